"""The snapshot of `GET /api/dashboard/state` (PROTOCOL.md §4.7), as `state.py` builds it.

The pages read the keys beyond the protocol's (`health.items`, the card extras, `chart`,
`series`, `recent_events`).
"""

from typing import Literal

from agentcom_site.core.schemas import Out
from agents.wire import AgentStateOut
from tasks.responses import QueueCountsOut


class ConditionOut(Out):
    level: Literal["warning", "critical"]
    text: str


class HealthSummaryOut(Out):
    status: Literal["ok", "warning", "critical"]
    conditions: list[str]
    items: list[ConditionOut]


class AgentCardOut(AgentStateOut):
    status: str
    current_task_title: str | None
    tasks_done_today: int


class DeadLetterTaskOut(Out):
    id: str
    title: str
    description: str
    last_error: str | None
    retry_count: int
    created_at: int
    updated_at: int


class CompletionOut(Out):
    task_id: str
    agent_id: str | None
    title: str
    description: str
    duration_ms: int
    tokens_used: int | None
    completed_at: int
    pr_url: str | None


class ThroughputOut(Out):
    completed_last_hour: int
    avg_completion_ms: int | None
    total_tokens_hour: int
    failed_last_hour: int


class ChartPointOut(Out):
    t: int
    queued: int
    completed: int


class ChartOut(Out):
    bucket_ms: int
    points: list[ChartPointOut]


class SeriesPointOut(Out):
    t: int
    completed: int
    failed: int
    p50_ms: int | None
    p95_ms: int | None


class SeriesOut(Out):
    bucket_ms: int
    points: list[SeriesPointOut]


class RecentEventOut(Out):
    type: Literal["task_event"]
    task_id: str
    title: str
    event: str
    agent_id: str | None
    timestamp: int


class WaitingQuestionOut(Out):
    task_id: str
    title: str
    agent_id: str | None
    question: str
    asked_at: int | None


class DashboardStateOut(Out):
    uptime_ms: int
    timestamp: int
    health: HealthSummaryOut
    agents: list[AgentCardOut]
    queue: QueueCountsOut
    dead_letter_tasks: list[DeadLetterTaskOut]
    recent_completions: list[CompletionOut]
    throughput: ThroughputOut
    chart: ChartOut
    series: SeriesOut
    recent_events: list[RecentEventOut]
    waiting_questions: list[WaitingQuestionOut]
