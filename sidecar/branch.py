"""Names and texts the git wrapper derives from a task (§6.6): branch, PR title, labels, body."""

from __future__ import annotations

import re
from typing import Any

SLUG_MAX = 40
SHORT_AGENT_MAX = 8
TITLE_MAX = 60
TITLE_CUT = 57
DEFAULT_HUB_API_URL = "http://localhost:4000"
REASONS_MAX = 10
REASON_MAX = 500
PRIORITY_NAMES = {0: "urgent", 1: "high", 2: "normal", 3: "low"}
LABEL_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
CONVENTIONAL_COMMIT = re.compile(
    r"^(feat|fix|docs|style|refactor|test|chore|perf|ci|build|revert)(\([a-zA-Z0-9._-]+\))?!?:\s.+"
)


def short_agent(agent_id: str) -> str:
    """The agent id up to its first '-', at most 8 characters of [A-Za-z0-9_] ("agent" if none).

    It starts branch names and labels: nothing in it may read as an option or a ref path.
    """
    return re.sub(r"[^A-Za-z0-9_]", "", agent_id.split("-", 1)[0])[:SHORT_AGENT_MAX] or "agent"


def slugify(description: str, max_length: int = SLUG_MAX) -> str:
    """The Node wrapper's slug: [a-z0-9] words joined by single '-', cut to max_length."""
    slug = description.lower()
    slug = re.sub(r"[^a-z0-9\s-]", "", slug)
    slug = re.sub(r"\s+", "-", slug)
    slug = re.sub(r"-+", "-", slug)
    slug = re.sub(r"^-|-$", "", slug)
    return re.sub(r"-$", "", slug[:max_length])


def branch_name(agent_id: str, description: str, task_id: str) -> str:
    """`<short>/<slug>`; a description with no usable characters falls back to the task id."""
    slug = slugify(description) or slugify(task_id) or "task"
    return f"{short_agent(agent_id)}/{slug}"


def pr_title(task: dict[str, Any]) -> str:
    """The task's title if any, else the description cut to 57 characters + '...' past 60."""
    title = task.get("title")
    if isinstance(title, str) and title.strip():
        return title
    description = task.get("description") or "agent task"
    return description[:TITLE_CUT] + "..." if len(description) > TITLE_MAX else description


def priority_label(task: dict[str, Any]) -> str:
    """metadata.priority if it is a short plain word, else the task's priority name, else normal."""
    metadata = task.get("metadata") if isinstance(task.get("metadata"), dict) else {}
    chosen = metadata.get("priority")
    if isinstance(chosen, str) and LABEL_WORD.fullmatch(chosen):
        return chosen
    priority = task.get("priority")
    if isinstance(priority, int) and not isinstance(priority, bool):
        return PRIORITY_NAMES.get(priority, "normal")
    if isinstance(priority, str) and priority:
        return priority.lower()
    return "normal"


def risk_of(value: Any) -> dict[str, Any] | None:
    """The hub's risk answer as submit takes it: {"tier": 1-3, "reasons": [text]}, else None."""
    if not isinstance(value, dict) or type(value.get("tier")) is not int:
        return None
    if value["tier"] not in (1, 2, 3):
        return None
    reasons = value.get("reasons")
    kept = (
        [r[:REASON_MAX] for r in reasons[:REASONS_MAX] if isinstance(r, str)]
        if isinstance(reasons, list)
        else []
    )
    return {"tier": value["tier"], "reasons": kept}


def risk_section(risk: dict[str, Any] | None) -> list[str]:
    """The PR body's "Risk" lines (none without a risk): the tier and the hub's reasons."""
    if risk is None:
        return []
    lines = [
        "### Risk",
        "",
        f"**Tier {risk['tier']}** (risk:tier-{risk['tier']}), as the hub "
        "classified the change. Nothing is merged automatically.",
        "",
    ]
    lines += [f"- {' '.join(reason.split())}" for reason in risk["reasons"]]
    return [*lines, ""]


def pr_body(
    task: dict[str, Any],
    agent_id: str,
    diff_stat: str,
    hub_api_url: str,
    risk: dict[str, Any] | None = None,
) -> str:
    """Markdown PR body listing task id, agent, priority, task link, description, the
    risk (when the hub classified the change) and the diffstat."""
    task_id = task.get("task_id") or task.get("id") or "unknown"
    hub = (hub_api_url or DEFAULT_HUB_API_URL).rstrip("/")
    return "\n".join(
        [
            f"## Task: {task_id}",
            "",
            f"**Agent:** {agent_id}",
            f"**Priority:** {priority_label(task)}",
            f"**Task Link:** {hub}/api/tasks/{task_id}",
            "",
            "### Description",
            "",
            task.get("description") or "No description provided",
            "",
            *risk_section(risk),
            "### Changes",
            "",
            "```",
            diff_stat or "No changes",
            "```",
            "",
            "---",
            f"*Submitted by the AgentCom sidecar | Agent: {agent_id} | Task: {task_id}*",
        ]
    )


def non_conventional(subjects: list[str]) -> list[str]:
    """Commit subjects not of the form `type(scope)!: text`."""
    return [s for s in subjects if s and not CONVENTIONAL_COMMIT.match(s)]
