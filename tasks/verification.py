"""The reports of a task's verification attempts (PROTOCOL.md §3.2 `verification`).

The holder's sidecar runs the task's verification steps after its agent reports success,
wakes the agent again with the failures, and sends every attempt's report with its
final `task_complete` or `task_failed`. `store` writes them inside that operation's
transaction (`tasks.queue`); `reports` reads them for the API and the task page.
"""

from typing import Any

from agentcom_site.core.clock import from_ms, to_ms
from agentcom_site.core.limits import VERIFICATION_ATTEMPTS_MAX
from tasks.models import Task, VerificationReport
from tasks.schemas import VerificationAttempt


def store(task: Task, attempts: list[VerificationAttempt] | None) -> int:
    """Add the attempts' reports under the task's current generation; return how many."""
    if not attempts:
        return 0
    rows = [
        VerificationReport(
            task=task,
            generation=task.generation,
            attempt=attempt.attempt,
            passed=attempt.passed,
            steps=[step.model_dump() for step in attempt.steps],
            finished_at=from_ms(attempt.finished_at) if attempt.finished_at else None,
        )
        for attempt in attempts
    ]
    VerificationReport.objects.bulk_create(rows)
    return len(rows)


# The reports one read returns: the last three runs' worth, so a task retried many times
# still fits a response (an attempt is at most 20 steps of 4 000 characters).
REPORTS_SHOWN = 3 * VERIFICATION_ATTEMPTS_MAX


def reports(task: Task) -> list[dict[str, Any]]:
    """The task's latest REPORTS_SHOWN attempts, oldest first (one bounded query)."""
    newest = VerificationReport.objects.filter(task=task).order_by(
        "-generation", "-attempt", "-pk"
    )[:REPORTS_SHOWN]
    return [
        {
            "generation": row.generation,
            "attempt": row.attempt,
            "passed": row.passed,
            "steps": row.steps,
            "finished_at": to_ms(row.finished_at),
        }
        for row in reversed(list(newest))
    ]
