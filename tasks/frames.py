"""Task frames from the holder (PROTOCOL.md §2.3, §3.2-§3.4, §3.7).

Each handler validates its frame, calls one `tasks.queue` operation and answers with
`task_ack` or the refusal `task_<verb>_failed: <reason>`.
"""

import contextlib
from typing import Annotated, Any, Literal

from channels.db import database_sync_to_async
from pydantic import Field

from agentcom_site.core.limits import GENERATION_MAX, TOKENS_USED_MAX, WAKE_ATTEMPT_MAX
from agentcom_site.core.validation import LIMITS, Strict, stored_json, text, validate
from tasks import holders, queue
from tasks.costs import CostIn
from tasks.models import HELD, Task
from tasks.wire import input_frame

TaskId = text("task_id", min_length=1)
Generation = Annotated[int, Field(ge=0, le=GENERATION_MAX)]
Reason = Annotated[str, Field(max_length=LIMITS["reason"])]


class AcceptedFrame(Strict):
    task_id: TaskId  # type: ignore[valid-type]
    generation: Generation | None = None


class ProgressFrame(Strict):
    task_id: TaskId  # type: ignore[valid-type]
    generation: Generation | None = None
    progress: stored_json("progress", Any) = None  # type: ignore[valid-type]


class CompleteFrame(CostIn):
    """The cost fields (`CostIn`) ride at the top level, beside `tokens_used`."""

    task_id: TaskId  # type: ignore[valid-type]
    generation: Generation
    result: stored_json("result") = Field(default_factory=dict)  # type: ignore[valid-type]
    tokens_used: Annotated[int, Field(ge=0, le=TOKENS_USED_MAX)] | None = None


class FailedFrame(Strict):
    task_id: TaskId  # type: ignore[valid-type]
    generation: Generation
    error: Reason | None = None
    reason: Reason | None = None


class RejectedFrame(Strict):
    task_id: TaskId  # type: ignore[valid-type]
    generation: Generation | None = None
    reason: Reason = "unspecified"


class RecoveringFrame(Strict):
    task_id: TaskId  # type: ignore[valid-type]


class StateReportFrame(Strict):
    task_id: TaskId  # type: ignore[valid-type]
    generation: Generation
    status: text("status") | None = None  # type: ignore[valid-type]


class InputRequiredFrame(Strict):
    task_id: TaskId  # type: ignore[valid-type]
    generation: Generation
    question: text("question", min_length=1)  # type: ignore[valid-type]


class WakeResultFrame(Strict):
    task_id: TaskId  # type: ignore[valid-type]
    status: Literal["success", "failed", "timeout"]
    attempt: Annotated[int, Field(ge=0, le=WAKE_ATTEMPT_MAX)] | None = None
    error: Reason | None = None
    reason: Reason | None = None


def _ack(task_id: str, status: str) -> dict[str, Any]:
    return {"type": "task_ack", "task_id": task_id, "status": status}


async def accepted(consumer: Any, raw: dict[str, Any]) -> None:
    frame = validate(AcceptedFrame, raw, message_type="task_accepted")
    await database_sync_to_async(queue.accept_task)(frame.task_id, consumer.agent, frame.generation)
    await consumer.send_frame(_ack(frame.task_id, "accepted"))


async def progress(consumer: Any, raw: dict[str, Any]) -> None:
    frame = validate(ProgressFrame, raw, message_type="task_progress")
    await database_sync_to_async(queue.record_progress)(
        frame.task_id, consumer.agent, frame.generation, frame.progress
    )


async def _with_idle_reset(consumer: Any, operation) -> Task:
    """A refused complete/fail still frees an agent that holds nothing (§3.4)."""
    try:
        return await database_sync_to_async(operation)()
    except queue.TaskRefused:
        await database_sync_to_async(holders.idle_reset)(consumer.agent.pk)
        raise


async def complete(consumer: Any, raw: dict[str, Any]) -> None:
    frame = validate(CompleteFrame, raw, message_type="task_complete")
    await _with_idle_reset(
        consumer,
        lambda: queue.complete_task(
            frame.task_id,
            consumer.agent,
            frame.generation,
            result=frame.result,
            tokens_used=frame.tokens_used,
            cost=frame,
        ),
    )
    await consumer.send_frame(_ack(frame.task_id, "complete"))


async def failed(consumer: Any, raw: dict[str, Any]) -> None:
    frame = validate(FailedFrame, raw, message_type="task_failed")
    error = frame.error or frame.reason or "unknown"
    task = await _with_idle_reset(
        consumer,
        lambda: queue.fail_task(frame.task_id, consumer.agent, frame.generation, error=error),
    )
    await consumer.send_frame(
        _ack(frame.task_id, "retried" if task.status == "queued" else "dead_letter")
    )


async def rejected(consumer: Any, raw: dict[str, Any]) -> None:
    frame = validate(RejectedFrame, raw, message_type="task_rejected")
    await database_sync_to_async(queue.reject_task)(
        frame.task_id, consumer.agent, frame.generation, reason=frame.reason
    )
    await consumer.send_frame(_ack(frame.task_id, "rejected"))


@database_sync_to_async
def _held_generation(task_id: str, agent_pk: int) -> int | None:
    """The current generation if the agent holds the task, else None."""
    return (
        Task.objects.filter(pk=task_id, holder_id=agent_pk, status__in=HELD)
        .values_list("generation", flat=True)
        .first()
    )


async def _continue(consumer: Any, task_id: str) -> bool:
    try:
        task = await database_sync_to_async(queue.continue_task)(task_id, consumer.agent)
    except queue.TaskRefused:
        return False
    await consumer.send_frame(
        {"type": "task_continue", "task_id": task_id, "generation": task.generation}
    )
    if task.answer_undelivered and consumer.agent.has_feature(queue.INPUT_FEATURE):
        # The answer may have been pushed while the holder was away (§3.9).
        await consumer.send_frame(input_frame(task))
    return True


async def recovering(consumer: Any, raw: dict[str, Any]) -> None:
    frame = validate(RecoveringFrame, raw, message_type="task_recovering")
    if not await _continue(consumer, frame.task_id):
        await consumer.send_frame({"type": "task_reassign", "task_id": frame.task_id})


async def state_report(consumer: Any, raw: dict[str, Any]) -> None:
    frame = validate(StateReportFrame, raw, message_type="state_report")
    current = await _held_generation(frame.task_id, consumer.agent.pk)
    if current is not None and current == frame.generation:
        await consumer.send_frame(
            {"type": "state_report_ack", "task_id": frame.task_id, "action": "continue"}
        )
        if await _continue(consumer, frame.task_id):
            return
    elif current is not None:
        # The sender holds the task under another generation: take it back.
        with contextlib.suppress(queue.TaskRefused):  # it moved on meanwhile
            await database_sync_to_async(queue.reclaim_task)(
                frame.task_id, reason="stale_state_report", actor=consumer.agent.agent_id
            )
    await consumer.send_frame(
        {"type": "state_report_ack", "task_id": frame.task_id, "action": "abort"}
    )


async def input_required(consumer: Any, raw: dict[str, Any]) -> None:
    frame = validate(InputRequiredFrame, raw, message_type="task_input_required")
    await database_sync_to_async(queue.ask_operator)(
        frame.task_id, consumer.agent, frame.generation, question=frame.question
    )
    await consumer.send_frame(_ack(frame.task_id, "input_required"))


async def wake_result(consumer: Any, raw: dict[str, Any]) -> None:
    frame = validate(WakeResultFrame, raw, message_type="wake_result")
    with contextlib.suppress(queue.TaskRefused):  # never answered (§2.3)
        await database_sync_to_async(queue.record_wake)(
            frame.task_id,
            consumer.agent,
            status=frame.status,
            attempt=frame.attempt,
            error=frame.error or frame.reason or "",
        )


HANDLERS = {
    "task_accepted": accepted,
    "task_progress": progress,
    "task_complete": complete,
    "task_failed": failed,
    "task_rejected": rejected,
    "task_recovering": recovering,
    "state_report": state_report,
    "wake_result": wake_result,
    "task_input_required": input_required,
}
