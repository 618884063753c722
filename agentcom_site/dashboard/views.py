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
from agentcom_site.core.limits import LIMITS
from agentcom_site.core.validation import validate
from agentcom_site.dashboard import selectors
from agentcom_site.dashboard.forms import TaskForm
from agentcom_site.dashboard.state import dashboard_state
from agents.selectors import agent_named, agent_rows, live_tokens
from tasks import delegation, intake, queue
from tasks.models import HELD, Priority, Task, TaskStatus
from tasks.schemas import AnswerIn
from tasks.selectors import (
    agent_history,
    agent_tasks,
    filtered_tasks,
    task_dependencies,
    task_filter,
    task_stats,
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
    sort = request.GET.get("sort", "")
    if sort not in selectors.SORT_LABELS:
        sort = selectors.DEFAULT_SORT
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
    page = Paginator(selectors.sorted_tasks(tasks, sort), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    kept = {k: v for k, v in filters.items() if v}
    query = urlencode({**kept, "sort": sort})
    counts = task_stats()["by_status"]
    # Status tabs keep the other filters and the order; counts are over all tasks.
    others = urlencode({k: v for k, v in {**kept, "sort": sort}.items() if k != "status"})
    tabs = [("", "all", sum(counts.values()))] + [
        (status, status.replace("_", " "), counts.get(status, 0)) for status in TaskStatus.values
    ]
    return render(
        request,
        "dashboard/task_list.html",
        {
            "page": page,
            "filters": filters,
            "problem": problem,
            "query": query,
            "tab_query": others,
            "tabs": tabs,
            "sort": sort,
            "sort_label": selectors.SORT_LABELS[sort],
            "sorts": selectors.SORT_LABELS,
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
    return render(
        request,
        "dashboard/task_form.html",
        {"form": form, "capabilities": selectors.declared_capabilities()},
    )


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
            "result": result_parts(task.result),
            "pr_url": result.get("pr_url") if isinstance(result.get("pr_url"), str) else None,
            "can_cancel": task.status in (TaskStatus.QUEUED, *HELD),
            "can_retry": task.status == TaskStatus.DEAD_LETTER,
            "children": delegation.children_of(task),
            "children_shown": delegation.CHILDREN_SHOWN,
            "answer_max": LIMITS["answer"],
        },
    )


SHORT_RESULT = 80  # a result field this short, on one line, is shown as a fact


def result_parts(result) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The result as (field, text) pairs: short one-line values as facts, the rest as
    blocks; text keeps its own line breaks, anything else is indented JSON. The template
    escapes every part."""
    if result is None:
        return [], []
    if not isinstance(result, dict):
        return [], [("", json.dumps(result, indent=2))]
    facts, blocks = [], []
    for key, value in result.items():
        text = value if isinstance(value, str) else json.dumps(value, indent=2)
        short = "\n" not in text and len(text) <= SHORT_RESULT
        (facts if short else blocks).append((str(key), text))
    return facts, blocks


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
@require_POST
def task_answer(request: HttpRequest, task_id: str) -> HttpResponse:
    """The answer box of a waiting task: the same gate and operation as the API's."""

    def answer(task_id: str, actor: str) -> None:
        body = validate(AnswerIn, {"answer": request.POST.get("answer", "")})
        queue.answer_task(task_id, answer=body.answer, actor=actor)

    return _task_action(request, task_id, answer, f"Answer sent for {task_id}.")


@staff_member_required
def agent_list(request: HttpRequest) -> HttpResponse:
    outcomes = selectors.outcomes_by_agent()
    held = selectors.held_titles()
    rows = [
        (agent, held.get(agent.pk), outcomes.get(agent.agent_id, {}))
        for agent, _task_id in agent_rows()
    ]
    return render(request, "dashboard/agent_list.html", {"rows": rows})


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
            "current": selectors.held_titles().get(agent.pk),
            "outcomes": selectors.outcomes_by_agent().get(agent.agent_id, {}),
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
