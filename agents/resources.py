"""What an agent's machine reports: `resource_report` and `agent_restarting` (PROTOCOL.md §2.3).

Both are fire-and-forget: validated like every frame (a bad one gets
`validation_failed` and changes nothing), answered with nothing when good. The hub
keeps only the latest report per agent (`ResourceReport`); `/api/agents/<id>/state`
shows it and `/metrics` sums the fleet's.
"""

import logging
from typing import Annotated, Any

from channels.db import database_sync_to_async
from pydantic import Field, model_validator

from agentcom_site.core import metrics
from agentcom_site.core.clock import now, to_ms
from agentcom_site.core.errors import invalid
from agentcom_site.core.schemas import Out
from agentcom_site.core.validation import Strict, text, validate
from agents.models import ResourceReport
from agents.wire import AgentStateOut

log = logging.getLogger(__name__)

# The largest byte count a JSON number holds exactly (8 PiB): bigger is a broken report.
BYTES_MAX = 2**53
Bytes = Annotated[int, Field(ge=0, le=BYTES_MAX)]
Percent = Annotated[float, Field(ge=0, le=100)]
Load = Annotated[float, Field(ge=0, le=100_000)]


class ResourceReportFrame(Strict):
    cpu_percent: Percent
    ram_used_bytes: Bytes
    ram_total_bytes: Bytes
    vram_used_bytes: Bytes | None = None
    vram_total_bytes: Bytes | None = None
    load_1m: Load | None = None

    @model_validator(mode="after")
    def _used_within_total(self) -> "ResourceReportFrame":
        if self.ram_used_bytes > self.ram_total_bytes:
            raise invalid(
                "ram_used_bytes",
                "out_of_range",
                "ram_used_bytes is larger than ram_total_bytes",
                message_type="resource_report",
            )
        if (self.vram_used_bytes is None) != (self.vram_total_bytes is None):
            raise invalid(
                "vram_total_bytes",
                "required",
                "vram_used_bytes and vram_total_bytes come together or not at all",
                message_type="resource_report",
            )
        if self.vram_used_bytes is not None and self.vram_used_bytes > self.vram_total_bytes:
            raise invalid(
                "vram_used_bytes",
                "out_of_range",
                "vram_used_bytes is larger than vram_total_bytes",
                message_type="resource_report",
            )
        return self


class AgentRestartingFrame(Strict):
    reason: text("reason") | None = None  # type: ignore[valid-type]


REPORT_FIELDS = (
    "cpu_percent",
    "ram_used_bytes",
    "ram_total_bytes",
    "vram_used_bytes",
    "vram_total_bytes",
    "load_1m",
)


def keep_report(agent_pk: int, figures: dict[str, Any]) -> ResourceReport:
    """Replace the agent's latest report (committed on return); clears `restarting_at`."""
    values = {name: figures.get(name) for name in REPORT_FIELDS}
    row, _ = ResourceReport.objects.update_or_create(
        agent_id=agent_pk,
        defaults={**values, "reported_at": now(), "restarting_at": None, "restart_reason": ""},
    )
    return row


def note_restarting(agent_pk: int, reason: str) -> ResourceReport:
    """The agent's sidecar is about to restart: noted until its next report."""
    row, _ = ResourceReport.objects.update_or_create(
        agent_id=agent_pk, defaults={"restarting_at": now(), "restart_reason": reason}
    )
    return row


def report_view(row: ResourceReport | None) -> dict[str, Any] | None:
    """`resources` in an agent's state (null before its first report)."""
    if row is None:
        return None
    return {
        **{name: getattr(row, name) for name in REPORT_FIELDS},
        "reported_at": to_ms(row.reported_at),
        "restarting_at": to_ms(row.restarting_at),
        "restart_reason": row.restart_reason or None,
    }


class ResourcesOut(Out):
    cpu_percent: float | None
    ram_used_bytes: int | None
    ram_total_bytes: int | None
    vram_used_bytes: int | None
    vram_total_bytes: int | None
    load_1m: float | None
    reported_at: int | None
    restarting_at: int | None
    restart_reason: str | None


class AgentDetailOut(AgentStateOut):
    resources: ResourcesOut | None


async def resource_report(consumer: Any, raw: dict[str, Any]) -> None:
    frame = validate(ResourceReportFrame, raw, message_type="resource_report")
    await database_sync_to_async(keep_report)(consumer.agent.pk, frame.model_dump())


async def agent_restarting(consumer: Any, raw: dict[str, Any]) -> None:
    frame = validate(AgentRestartingFrame, raw, message_type="agent_restarting")
    metrics.AGENT_RESTARTS.inc()
    log.info("agent restarting: %.200s", frame.reason or "no reason given")
    await database_sync_to_async(note_restarting)(consumer.agent.pk, frame.reason or "")


HANDLERS = {"resource_report": resource_report, "agent_restarting": agent_restarting}
