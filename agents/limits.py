"""What each agent frame costs against the agent's rate budgets (PROTOCOL.md §1, §2.1).

Free: `ping` and `identify` (answered before this check), and the task frames the
protocol requires of a working agent (`task_accepted`, `task_complete`, `task_failed`,
`task_rejected`, `task_recovering`, `state_report`). Each of those is fenced and
moves a task at most once, so no budget is needed to bound them, and charging them
would let an agent's own chat starve its results. `task_progress` and `wake_result`
and `task_input_required` can be sent at any rate, so they pay from their own
`lifecycle` budget. Any other
frame, including types added later, costs at least a read.
"""

from typing import Any

from agentcom_site.core import ratelimit
from agentcom_site.core.auth import AGENT

FREE = frozenset(
    {
        "task_accepted",
        "task_complete",
        "task_failed",
        "task_rejected",
        "task_recovering",
        "state_report",
    }
)
PRICED = {
    "channel_publish": ratelimit.PUBLISH,
    "task_progress": ratelimit.PROGRESS,
    "wake_result": ratelimit.PROGRESS,
    "task_input_required": ratelimit.PROGRESS,
}


def frame_action(kind: str, frame: dict[str, Any]) -> str | None:
    """The action a frame is charged as, or None when it is free."""
    if kind in FREE:
        return None
    if kind == "message":
        broadcast = frame.get("to") is None or frame.get("to") == "broadcast"
        return ratelimit.BROADCAST if broadcast else ratelimit.MESSAGE
    return PRICED.get(kind, ratelimit.READ)


async def admit(consumer: Any, kind: str, frame: dict[str, Any]) -> None:
    """Charge the identified agent for a frame: a warning frame when the budget runs low,
    `rate_limited` (nothing done, socket open) when it is spent."""
    action = frame_action(kind, frame)
    if action is None:
        return
    key = ratelimit.principal_key(AGENT, consumer.agent.agent_id)
    decision = await ratelimit.take_async(key, action)
    if not decision.allowed:
        raise ratelimit.RateLimited(decision)
    if decision.warn:
        await consumer.send_frame(decision.warning_frame())
