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
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from agentcom_site.core.auth import operator_actor
from agentcom_site.core.clock import from_ms
from agentcom_site.core.errors import HubError
from agentcom_site.dashboard.forms import TaskForm
from agentcom_site.dashboard.state import dashboard_state
from agents.models import Agent, AgentState
from agents.selectors import current_task_ids
from tasks import queue
from tasks.models import HELD, Priority, Task, TaskEvent, TaskStatus
from tasks.selectors import queue_order

PAGE_SIZE = 50
AGENT_HISTORY = 100


def request_actor(request: HttpRequest) -> str:
    return operator_actor(request.user.get_username())


@staff_member_required
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/overview.html", {"snapshot": dashboard_state()})


@staff_member_required
def task_list(request: HttpRequest) -> HttpResponse:
    tasks = Task.objects.select_related("holder")
    filters = {k: request.GET.get(k, "").strip() for k in ("status", "priority", "agent", "q")}
    if filters["status"] in TaskStatus.values:
        tasks = tasks.filter(status=filters["status"])
    if filters["priority"].isdigit() and int(filters["priority"]) in Priority.values:
        tasks = tasks.filter(priority=int(filters["priority"]))
    if filters["agent"]:
        tasks = tasks.filter(holder__agent_id=filters["agent"])
    if filters["q"]:
        q = filters["q"]
        tasks = tasks.filter(Q(id__icontains=q) | Q(title__icontains=q))
    page = Paginator(queue_order(tasks), PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(
        request,
        "dashboard/task_list.html",
        {
            "page": page,
            "filters": filters,
            "query": query,
            "statuses": TaskStatus.values,
            "priorities": Priority.choices,
        },
    )


@staff_member_required
def task_new(request: HttpRequest) -> HttpResponse:
    form = TaskForm(request.POST or None, initial={"pin_to": request.GET.get("agent")})
    if request.method == "POST" and form.is_valid():
        body = form.submission()
        if body is not None:
            task, _ = queue.submit_task(
                description=body.description,
                submitted_by=request_actor(request),
                title=body.title,
                priority=body.priority,
                max_retries=body.max_retries,
                complete_by=from_ms(body.complete_by),
                needed_capabilities=list(dict.fromkeys(body.needed_capabilities)),
                pinned_to=form.cleaned_data["pin_to"],
            )
            messages.success(request, f"Task {task.id} queued.")
            return redirect("dashboard:task", task_id=task.id)
    return render(request, "dashboard/task_form.html", {"form": form})


@staff_member_required
def task_detail(request: HttpRequest, task_id: str) -> HttpResponse:
    task = get_object_or_404(Task.objects.select_related("holder", "pinned_to"), pk=task_id)
    result = task.result if isinstance(task.result, dict) else {}
    return render(
        request,
        "dashboard/task_detail.html",
        {
            "task": task,
            "events": task.events.order_by("seq"),
            "dependencies": task.depends_on.values_list("id", "status"),
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
    agents = list(Agent.objects.order_by("agent_id"))
    held = current_task_ids([a.pk for a in agents])
    rows = [(agent, held.get(agent.pk)) for agent in agents]
    rows.sort(key=lambda row: (row[0].state == AgentState.OFFLINE, row[0].agent_id))
    return render(request, "dashboard/agent_list.html", {"rows": rows})


@staff_member_required
def agent_detail(request: HttpRequest, agent_id: str) -> HttpResponse:
    agent = get_object_or_404(Agent, agent_id=agent_id)
    history = TaskEvent.objects.filter(agent_id=agent.agent_id).order_by("-created_at", "-pk")
    tasks = Task.objects.filter(Q(holder=agent) | Q(pinned_to=agent)).order_by("-updated_at")
    return render(
        request,
        "dashboard/agent_detail.html",
        {
            "agent": agent,
            "current_task_id": current_task_ids([agent.pk]).get(agent.pk),
            "history": history[:AGENT_HISTORY],
            "tasks": tasks[:PAGE_SIZE],
            "tokens": agent.tokens.live().order_by("-created_at"),
        },
    )


def static_file(request: HttpRequest, path: str) -> HttpResponse:
    """The dashboard's and the admin's static files, served by the hub process itself.

    `runhub` is the whole hub in one process, with no web server in front that could
    serve them; the files are small and few, and browsers cache them.
    """
    return serve(request, path, insecure=True)
