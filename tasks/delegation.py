"""Delegation: a holder submits tasks that become children of the task it holds.

Which task is the parent (`parent_for`, at the edge, from the submitter and the body)
and whether it may have another child (`admit_child`, inside the submit's transaction,
under the parent's row lock so concurrent submissions cannot pass the limits).
"""

from django.conf import settings

from agentcom_site.core.errors import HubError, conflict, invalid
from agentcom_site.core.rows import lock_by_pk
from agents.models import Agent
from tasks.models import HELD, Task

# The most children a task record lists (GET /api/tasks/:id); the count is exact.
CHILDREN_SHOWN = 100


def parent_for(requested: str | None, *, agent: Agent | None, field: str = "parent") -> str | None:
    """The parent of a task submitted by `agent` (None: an operator) naming `requested`.

    An agent's submission takes the task it holds as parent; holding several, it must
    name one (422 `required`); a named parent must be a task it holds (403
    `not_assignee`). An operator may name any existing task (422 `not_found`) or none.
    """
    if agent is None:
        if requested is not None and not Task.objects.filter(pk=requested).exists():
            raise invalid(field, "not_found", f"no task {requested} to be the parent")
        return requested
    held = list(
        Task.objects.filter(holder=agent, status__in=HELD).values_list("pk", flat=True)[:2]
        if requested is None
        else Task.objects.filter(pk=requested, holder=agent, status__in=HELD).values_list(
            "pk", flat=True
        )
    )
    if requested is not None:
        if not held:
            raise HubError(
                "not_assignee",
                f"{agent.agent_id} does not hold {requested}: only a task it holds can be a parent",
                http_status=403,
                task_id=requested,
            )
        return requested
    if len(held) > 1:
        raise invalid(field, "required", f"{agent.agent_id} holds several tasks: name the parent")
    return held[0] if held else None


def admit_child(parent_id: str) -> int:
    """Lock the parent and check the limits; returns the new child's depth.

    Raises 409 `delegation_too_deep` or `too_many_children` (with `limit`)."""
    parent = lock_by_pk(Task, parent_id)
    if parent is None:
        raise invalid("parent", "not_found", f"no task {parent_id} to be the parent")
    depth = parent.depth + 1
    max_depth = settings.AGENTCOM_DELEGATION_MAX_DEPTH
    if depth > max_depth:
        raise conflict(
            "delegation_too_deep",
            f"{parent_id} is already {parent.depth} delegations deep; the limit is {max_depth}",
            task_id=parent_id,
            limit=max_depth,
        )
    max_children = settings.AGENTCOM_DELEGATION_MAX_CHILDREN
    if Task.objects.filter(parent_id=parent_id).count() >= max_children:
        raise conflict(
            "too_many_children",
            f"{parent_id} already has {max_children} child tasks, the limit",
            task_id=parent_id,
            limit=max_children,
        )
    return depth


def children_of(task: Task) -> list[dict[str, str]]:
    """The first CHILDREN_SHOWN children, oldest first, as {id, status}."""
    rows = task.children.order_by("created_at", "id").values_list("id", "status")
    return [{"id": pk, "status": status} for pk, status in rows[:CHILDREN_SHOWN]]
