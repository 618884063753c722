"""Task routes (PROTOCOL.md §4.5): thin views over `tasks.queue` and `tasks.selectors`."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from agentcom_site.core import ratelimit
from agentcom_site.core.auth import Principal, operator_auth
from agentcom_site.core.clock import to_ms
from agentcom_site.core.errors import forbidden, not_found
from agentcom_site.core.limits import COUNTER_MAX, LIMITS
from agentcom_site.core.schemas import BODY_GUARD, refusals
from agentcom_site.core.validation import AgentId
from tasks import explain, intake, queue
from tasks.models import Task
from tasks.responses import (
    BatchSubmittedOut,
    DeadLetterOut,
    TaskAnsweredOut,
    TaskCancelledOut,
    TaskExplainOut,
    TaskListOut,
    TaskPushedOut,
    TaskRequeuedOut,
    TaskStatsOut,
    TaskSubmittedOut,
)
from tasks.schemas import AnswerIn, CancelIn, PushTaskIn, TaskBatchIn, TaskSubmitIn
from tasks.selectors import (
    dead_letter_count,
    dead_letters,
    filtered_tasks,
    task_filter,
    task_stats,
    task_with_links,
)
from tasks.wire import SUMMARY_OMITS, TaskDetailOut, task_record, task_summary

# by_alias: a history entry's `from` is a Python keyword, so the schema names it by alias.
router = Router(tags=["tasks"], by_alias=True)
admin_router = Router(tags=["tasks"])


class TaskListQuery(Schema):
    status: str | None = None
    priority: str | None = None
    assigned_to: AgentId | None = None
    submitted_by: str | None = Field(None, max_length=LIMITS["name"])
    limit: int = Field(settings.AGENTCOM_LIST_MAX, ge=1, le=settings.AGENTCOM_LIST_MAX)
    offset: int = Field(0, ge=0, le=COUNTER_MAX)


def _get_task(task_id: str) -> Task:
    task = task_with_links(task_id)
    if task is None:
        raise not_found("task_not_found", f"no task {task_id}", task_id=task_id)
    return task


def _submitted(task: Task, warnings: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "status": task.status,
        "task_id": task.id,
        "title": task.title,
        "priority": task.priority,
        "created_at": to_ms(task.created_at),
        "warnings": warnings,
    }


@router.post(
    "",
    response={(200, 201): TaskSubmittedOut, **refusals(*BODY_GUARD, 401, 403, 409, 422)},
    summary="Submit a task",
)
def submit(request: HttpRequest, body: TaskSubmitIn):
    principal: Principal = request.auth
    intake.check_submitter_may([body], is_operator=principal.is_operator)
    principal.charge(ratelimit.SUBMIT)
    task, created = intake.submit(body, submitted_by=principal.actor, agent=principal.agent)
    (warnings,) = intake.warnings([task])
    return Status(201 if created else 200, _submitted(task, warnings))


@router.post(
    "/batch",
    response={(200, 201): BatchSubmittedOut, **refusals(*BODY_GUARD, 401, 403, 409, 422)},
    summary="Submit up to 500 tasks at once",
)
def submit_batch(request: HttpRequest, body: TaskBatchIn):
    principal: Principal = request.auth
    intake.check_submitter_may(body.tasks, is_operator=principal.is_operator, batch=True)
    principal.charge(ratelimit.SUBMIT, units=len(body.tasks))
    results = intake.submit_batch(body.tasks, submitted_by=principal.actor, agent=principal.agent)
    created = sum(1 for _, new in results if new)
    warnings = intake.warnings([task for task, _ in results])
    tasks = [
        {**_submitted(task, said), "created": new}
        for (task, new), said in zip(results, warnings, strict=True)
    ]
    return Status(201 if created else 200, {"tasks": tasks, "created": created})


@router.get(
    "",
    response={200: TaskListOut, **refusals(401, 422)},
    summary="List tasks by priority then age",
)
def list_tasks(request: HttpRequest, filters: Query[TaskListQuery]):
    spec = task_filter(
        status=filters.status,
        priority=filters.priority,
        holder=filters.assigned_to,
        submitted_by=filters.submitted_by,
    )
    tasks = filtered_tasks(spec).defer(*SUMMARY_OMITS).prefetch_related("depends_on")
    total = tasks.count()
    page = tasks[filters.offset : filters.offset + filters.limit]
    records = [task_summary(t) for t in page]
    return {"tasks": records, "count": len(records), "total": total}


@router.get(
    "/dead-letter",
    response={200: DeadLetterOut, **refusals(401)},
    summary="Tasks in the dead letter queue",
)
def dead_letter(request: HttpRequest):
    page = dead_letters(settings.AGENTCOM_LIST_MAX).defer(*SUMMARY_OMITS)
    records = [task_summary(t) for t in page.prefetch_related("depends_on")]
    return {"tasks": records, "count": len(records), "total": dead_letter_count()}


@router.get("/stats", response={200: TaskStatsOut, **refusals(401)}, summary="Queue counts")
def stats(request: HttpRequest):
    return task_stats()


@router.get(
    "/{task_id}",
    response={200: TaskDetailOut, **refusals(401, 404)},
    summary="One task with its history, newest first",
)
def get_task(request: HttpRequest, task_id: str):
    return task_record(_get_task(task_id))


@router.get(
    "/{task_id}/explain",
    response={200: TaskExplainOut, **refusals(401, 404)},
    summary="Why a task is not running (codes and sentences)",
)
def explain_task(request: HttpRequest, task_id: str):
    return explain.explain(_get_task(task_id))


@router.post(
    "/{task_id}/retry",
    response={200: TaskRequeuedOut, **refusals(*BODY_GUARD, 401, 403, 404, 409)},
    summary="Requeue a dead-letter task",
)
def retry(request: HttpRequest, task_id: str):
    principal: Principal = request.auth
    task = queue.retry_dead_letter(task_id, actor=principal.actor)
    return {"status": "requeued", "task_id": task.id, "priority": task.priority}


@router.post(
    "/{task_id}/cancel",
    response={200: TaskCancelledOut, **refusals(*BODY_GUARD, 401, 403, 404, 409, 422)},
    summary="Cancel a task (operator or submitter)",
)
def cancel(request: HttpRequest, task_id: str, body: CancelIn | None = None):
    principal: Principal = request.auth
    task = _get_task(task_id)
    if not principal.is_operator and task.submitted_by != principal.actor:
        raise forbidden("only an operator or the submitter may cancel a task")
    reason = body.reason if body is not None else "cancelled"
    queue.cancel_task(task_id, actor=principal.actor, reason=reason)
    return {"status": "cancelled", "task_id": task_id}


@router.post(
    "/{task_id}/answer",
    auth=operator_auth,
    response={200: TaskAnsweredOut, **refusals(*BODY_GUARD, 401, 403, 404, 409, 422)},
    summary="Answer the question a task waits on (operator)",
)
def answer(request: HttpRequest, task_id: str, body: AnswerIn):
    principal: Principal = request.auth
    task = queue.answer_task(task_id, answer=body.answer, actor=principal.actor)
    return {"status": task.status, "task_id": task.id, "answer_id": task.answer_id}


@admin_router.post(
    "/push-task",
    auth=operator_auth,
    response={200: TaskPushedOut, **refusals(*BODY_GUARD, 401, 403, 404, 409, 422)},
    summary="Assign a new task straight to an agent",
)
def push_task(request: HttpRequest, body: PushTaskIn):
    principal: Principal = request.auth
    task = queue.push_task(
        agent_id=body.agent_id,
        submitted_by=principal.actor,
        description=body.description,
        title=body.title,
        metadata=body.metadata,
        priority=body.priority,
        max_retries=body.max_retries,
        complete_by=None,
        needed_capabilities=[],
        **intake.definition(body, body.description),
    )
    return {"status": "pushed", "task_id": task.id, "agent_id": body.agent_id}
