"""From a validated submission to the queue: one mapping for every entry point.

The HTTP routes (one task, a batch) and the dashboard's form all parse with
`TaskSubmitIn` and come here, so a field means the same wherever a task comes from.
A submission nobody can take yet is still accepted; `warnings` says so.
"""

from typing import Any

from agentcom_site.core.clock import from_ms
from agentcom_site.core.errors import forbidden, invalid
from agents.models import Agent
from tasks import complexity, delegation, queue, repos
from tasks.explain import AGENTS_READ
from tasks.models import Repo, Task
from tasks.schemas import COMMAND_STEPS, DefinitionOfDone, TaskSubmitIn

COMMAND_STEPS_FORBIDDEN = "command_steps_forbidden"


def check_submitter_may(
    bodies: list[TaskSubmitIn], *, is_operator: bool, batch: bool = False
) -> None:
    """Steps that run a command run with the agent machine's rights: only an operator
    may set them. An agent's submission carrying one is refused whole (403
    `command_steps_forbidden`), before anything is stored."""
    if is_operator:
        return
    for index, body in enumerate(bodies):
        if body.runs_commands():
            where = f"tasks[{index}]." if batch else ""
            raise forbidden(
                f"{where}verification_steps: only an operator may set "
                f"{' or '.join(COMMAND_STEPS)} steps; they run commands on the agent's machine",
                code=COMMAND_STEPS_FORBIDDEN,
            )


def definition(body: DefinitionOfDone, description: str) -> dict[str, Any]:
    """The definition-of-done columns for body; the complexity estimated when not given."""
    if body.complexity is not None:
        level, reason, estimated = body.complexity, "given by the submitter", False
    else:
        level, reason = complexity.estimate(
            description,
            body.success_criteria or "",
            len(body.file_hints),
            len(body.verification_steps),
        )
        estimated = True
    return {
        "repo": body.repo or "",
        "branch": body.branch or "",
        "file_hints": list(body.file_hints),
        "success_criteria": body.success_criteria or "",
        "verification_steps": [
            step.model_dump(exclude_none=True) for step in body.verification_steps
        ],
        "max_verification_retries": body.max_verification_retries,
        "complexity": level,
        "complexity_reason": reason,
        "complexity_estimated": estimated,
    }


def submission(
    body: TaskSubmitIn, field_prefix: str = "", *, agent: Agent | None = None
) -> dict[str, Any]:
    """The `queue.submit_task` arguments for body; an unknown `assign_to` is refused.
    `agent` is the submitting agent (None for an operator): it decides the parent. A
    task of a registered repo takes the repo's priority unless it names its own."""
    pinned = None
    if body.assign_to is not None:
        pinned = Agent.objects.filter(agent_id=body.assign_to).first()
        if pinned is None:
            raise invalid(f"{field_prefix}assign_to", "not_found", f"no agent {body.assign_to}")
    priority = body.priority
    if body.repo and "priority" not in body.model_fields_set:
        registered = repos.find(body.repo)
        priority = registered.priority if registered is not None else priority
    return {
        "description": body.description,
        "title": body.title,
        "priority": priority,
        "metadata": body.metadata,
        "max_retries": body.max_retries,
        "complete_by": from_ms(body.complete_by),
        "needed_capabilities": list(dict.fromkeys(body.needed_capabilities)),
        "idempotency_key": body.idempotency_key,
        "depends_on": body.depends_on,
        "pinned_to": pinned,
        "parent_id": delegation.parent_for(body.parent, agent=agent, field=f"{field_prefix}parent"),
        "definition": definition(body, body.description),
    }


def submit(
    body: TaskSubmitIn, *, submitted_by: str, agent: Agent | None = None
) -> tuple[Task, bool]:
    """Submit one task; (task, created) as `queue.submit_task` returns it."""
    return queue.submit_task(submitted_by=submitted_by, **submission(body, agent=agent))


def submit_batch(
    bodies: list[TaskSubmitIn], *, submitted_by: str, agent: Agent | None = None
) -> list[tuple[Task, bool]]:
    """Submit all or none; a refusal names the entry (`tasks[3].assign_to`)."""
    submissions = [submission(body, f"tasks[{i}].", agent=agent) for i, body in enumerate(bodies)]
    return queue.submit_tasks(submissions, submitted_by=submitted_by)


def warnings(tasks: list[Task]) -> list[list[dict[str, str]]]:
    """For each task, what the submitter should know: `no_agent_with_capabilities`
    when no registered agent has every capability it needs (it waits until one
    registers), `repo_not_registered` when it names a repo by a name nobody registered
    (a sidecar gets no URL to clone). Agents are read once per request, and only if a
    task needs anything."""
    notes = _repo_warnings(tasks)
    if not any(task.needed_capabilities for task in tasks):
        return notes
    offered = {
        frozenset(capabilities or [])
        for capabilities in Agent.objects.values_list("capabilities", flat=True)[:AGENTS_READ]
    }
    answers = []
    for task in tasks:
        needed = frozenset(task.needed_capabilities)
        if needed and not any(needed <= capabilities for capabilities in offered):
            have = frozenset().union(*offered)
            missing = sorted(needed - have) or sorted(needed)
            message = f"no registered agent has {', '.join(missing)}; the task waits until one does"
            answers.append([{"code": "no_agent_with_capabilities", "message": message}])
        else:
            answers.append([])
    return [[*first, *second] for first, second in zip(answers, notes, strict=True)]


def _repo_warnings(tasks: list[Task]) -> list[list[dict[str, str]]]:
    """`repo_not_registered` for each task naming a repo by a name nobody registered
    (one query for the whole batch)."""
    names = {task.repo for task in tasks if task.repo and not repos.is_url(task.repo)}
    if not names:  # most tasks name no repo, or a URL: no query (building one is ~0.1 ms)
        return [[] for _ in tasks]
    known = set(Repo.objects.filter(name__in=names).values_list("name", flat=True))
    notes = []
    for task in tasks:
        if task.repo in names and task.repo not in known:
            message = (
                f"no repo named {task.repo} is registered: its sidecar gets no repo_url and "
                "works in its own repo_dir"
            )
            notes.append([{"code": "repo_not_registered", "message": message}])
        else:
            notes.append([])
    return notes
