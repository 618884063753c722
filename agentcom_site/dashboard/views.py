"""Dashboard pages: thin views over the selectors and the `tasks.queue` operations.

Pages are rendered on the server; `live.js` keeps them current over `/ws/dashboard`
(the overview from snapshots, the other pages by re-reading their live region).
"""

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.staticfiles.views import serve
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from agentcom_site.core.auth import operator_actor
from agentcom_site.core.errors import HubError, ValidationFailed
from agentcom_site.dashboard.forms import TaskForm
from agentcom_site.dashboard.state import dashboard_state
from agents.selectors import agent_named, agent_rows, current_task_ids, live_tokens
from tasks import intake, queue
from tasks.models import HELD, Priority, Task, TaskStatus
from tasks.selectors import (
    agent_history,
    agent_tasks,
    filtered_tasks,
    task_dependencies,
    task_filter,
    task_timeline,
    task_with_links,
)

PAGE_SIZE = 50
# Timeline rows per page of a task's page; the last page (the latest events) is shown
# unless another is asked for.
TIMELINE_PAGE = 100
AGENT_HISTORY = 100


def request_actor(request: HttpRequest) -> str:
    return operator_actor(request.user.get_username())


@staff_member_required
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/overview.html", {"snapshot": dashboard_state()})


@staff_member_required
def task_list(request: HttpRequest) -> HttpResponse:
    filters = {k: request.GET.get(k, "").strip() for k in ("status", "priority", "agent", "q")}
    try:
        spec = task_filter(
            status=filters["status"] or None,
            priority=filters["priority"] or None,
            holder=filters["agent"],
            text=filters["q"],
        )
    except ValidationFailed as refusal:  # the same refusal the API gives, shown on the page
        spec, problem, status = None, refusal.detail, 422
    else:
        problem, status = "", 200
    tasks = filtered_tasks(spec) if spec is not None else Task.objects.none()
    page = Paginator(tasks, PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(
        request,
        "dashboard/task_list.html",
        {
            "page": page,
            "filters": filters,
            "problem": problem,
            "query": query,
            "statuses": TaskStatus.values,
            "priorities": Priority.choices,
        },
        status=status,
    )


@staff_member_required
def task_new(request: HttpRequest) -> HttpResponse:
    form = TaskForm(request.POST or None, initial={"pin_to": request.GET.get("agent")})
    if request.method == "POST" and form.is_valid():
        body = form.submission()
        if body is not None:
            task, _ = intake.submit(body, submitted_by=request_actor(request))
            messages.success(request, f"Task {task.id} queued.")
            return redirect("dashboard:task", task_id=task.id)
    return render(request, "dashboard/task_form.html", {"form": form})


@staff_member_required
def task_detail(request: HttpRequest, task_id: str) -> HttpResponse:
    task = task_with_links(task_id)
    if task is None:
        raise Http404(f"no task {task_id}")
    result = task.result if isinstance(task.result, dict) else {}
    pages = Paginator(task_timeline(task), TIMELINE_PAGE)
    timeline = pages.get_page(request.GET.get("events_page") or pages.num_pages)
    return render(
        request,
        "dashboard/task_detail.html",
        {
            "task": task,
            "events": timeline,
            "dependencies": task_dependencies(task),
            "result_json": json.dumps(task.result, indent=2) if task.result is not None else "",
            "pr_url": result.get("pr_url") if isinstance(result.get("pr_url"), str) else None,
            "can_cancel": task.status in (TaskStatus.QUEUED, *HELD),
            "can_retry": task.status == TaskStatus.DEAD_LETTER,
        },
    )


def _task_action(request: HttpRequest, task_id: str, operation, done: str) -> HttpResponse:
    try:
        operation(task_id, actor=request_actor(request))
    except HubError as refusal:
        messages.error(request, refusal.detail)
    else:
        messages.success(request, done)
    return redirect("dashboard:task", task_id=task_id)


@staff_member_required
@require_POST
def task_cancel(request: HttpRequest, task_id: str) -> HttpResponse:
    def cancel(task_id: str, actor: str) -> None:
        queue.cancel_task(task_id, actor=actor, reason="cancelled from the dashboard")

    return _task_action(request, task_id, cancel, f"Task {task_id} cancelled.")


@staff_member_required
@require_POST
def task_retry(request: HttpRequest, task_id: str) -> HttpResponse:
    return _task_action(
        request, task_id, queue.retry_dead_letter, f"Task {task_id} is queued again."
    )


@staff_member_required
def agent_list(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/agent_list.html", {"rows": agent_rows()})


@staff_member_required
def agent_detail(request: HttpRequest, agent_id: str) -> HttpResponse:
    agent = agent_named(agent_id)
    if agent is None:
        raise Http404(f"no agent {agent_id}")
    return render(
        request,
        "dashboard/agent_detail.html",
        {
            "agent": agent,
            "current_task_id": current_task_ids([agent.pk]).get(agent.pk),
            "history": agent_history(agent.agent_id)[:AGENT_HISTORY],
            "tasks": agent_tasks(agent.pk)[:PAGE_SIZE],
            "tokens": live_tokens(agent),
        },
    )


def static_file(request: HttpRequest, path: str) -> HttpResponse:
    """The dashboard's and the admin's static files, served by the hub process itself.

    `runhub` is the whole hub in one process, with no web server in front that could
    serve them; the files are small and few, and browsers cache them.
    """
    return serve(request, path, insecure=True)
