"""The task admin's part in questions and delegation: a waiting task's question with a
link to answer it (the API's gate and operation), and a task's parent and children."""

from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from agentcom_site.core.admin import request_actor
from agentcom_site.core.errors import HubError
from agentcom_site.core.limits import LIMITS
from agentcom_site.core.validation import validate
from tasks import queue
from tasks.models import Task, TaskStatus
from tasks.schemas import AnswerIn


class QuestionAdminMixin:
    def get_urls(self):
        answer = self.admin_site.admin_view(self.answer_view)
        return [
            path("<str:object_id>/answer/", answer, name="tasks_task_answer"),
            *super().get_urls(),
        ]

    def answer_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Answer the holder's question: the API's gate and operation, from the admin."""
        task = Task.objects.select_related("holder").filter(pk=object_id).first()
        if task is None:
            raise Http404(f"no task {object_id}")
        if request.method == "POST":
            try:
                body = validate(AnswerIn, {"answer": request.POST.get("answer", "")})
                queue.answer_task(task.pk, answer=body.answer, actor=request_actor(request))
            except HubError as refusal:
                self.message_user(request, refusal.detail, messages.ERROR)
            else:
                self.message_user(request, "Answer sent.", messages.SUCCESS)
                return redirect("admin:tasks_task_change", task.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Answer {task.pk}",
            "task": task,
            "opts": self.model._meta,
            "answer_max": LIMITS["answer"],
        }
        return TemplateResponse(request, "admin/tasks/task/answer.html", context)

    @admin.display(description="Question")
    def question_and_answer(self, task: Task) -> str:
        if not task.question:
            return "-"
        if task.status == TaskStatus.INPUT_REQUIRED:
            url = reverse("admin:tasks_task_answer", args=[task.pk])
            return format_html(
                '<blockquote>{}</blockquote><a class="button" href="{}">Answer the question</a>',
                task.question,
                url,
            )
        return format_html(
            "<blockquote>{}</blockquote><p>Answer #{} by {}:</p><pre>{}</pre>",
            task.question,
            task.answer_id,
            task.answered_by or "-",
            task.answer or "-",
        )

    @admin.display(description="Delegation")
    def parent_and_children(self, task: Task) -> str:
        parent = (
            format_html(
                'part of <a href="{}">{}</a>; ',
                reverse("admin:tasks_task_change", args=[task.parent_id]),
                task.parent_id,
            )
            if task.parent_id
            else ""
        )
        count = task.children.count()
        return format_html("{}{} delegated task{}", parent, count, "" if count == 1 else "s")
