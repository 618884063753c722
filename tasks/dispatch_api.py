"""Dispatch routes (PROTOCOL.md §4.8): pause, resume and WIP caps, for operators only.

Thin views over `tasks.flow`; every change is audited there and wakes the schedulers.
"""

from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Router
from pydantic import Field, model_validator

from agentcom_site.core.auth import Principal, operator_auth
from agentcom_site.core.clock import to_ms
from agentcom_site.core.limits import WIP_CAP_MAX
from agentcom_site.core.schemas import BODY_GUARD, Out, refusals
from agentcom_site.core.validation import Capability, Strict, text
from tasks import flow
from tasks.models import FlowScope

router = Router(tags=["dispatch"], auth=operator_auth)

Reason = text("reason")


class PauseIn(Strict):
    """No capability: all dispatch. A capability: the tasks that need it."""

    capability: Capability | None = None
    reason: Reason = ""  # type: ignore[valid-type]


class CapIn(Strict):
    """`limit` null removes the cap (the key falls back to the default setting)."""

    scope: Literal["capability", "submitter"]
    key: text("name", min_length=1)  # type: ignore[valid-type]
    limit: Annotated[int, Field(ge=1, le=WIP_CAP_MAX)] | None
    reason: Reason = ""  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _capability_length(self) -> "CapIn":
        if self.scope == FlowScope.CAPABILITY and len(self.key) > 128:
            raise ValueError("a capability is at most 128 characters")
        return self


class PauseOut(Out):
    capability: str | None
    paused_by: str
    paused_at: int
    reason: str


class CapOut(Out):
    scope: str
    key: str
    limit: int
    held: int
    set_by: str
    set_at: int


class DefaultsOut(Out):
    """The caps of keys with no cap of their own (settings); null is unlimited."""

    capability: int | None
    submitter: int | None


class FlowChangeOut(Out):
    action: str
    scope: str
    key: str
    limit: int | None
    actor: str
    reason: str
    at: int


class DispatchOut(Out):
    """`paused`: all dispatch; `paused_capabilities`: paused for tasks needing these.
    `changed` (on a change request): whether it changed anything."""

    paused: bool
    paused_capabilities: list[str]
    pauses: list[PauseOut]
    caps: list[CapOut]
    defaults: DefaultsOut
    changes: list[FlowChangeOut]
    changed: bool | None = None


def _view(changed: bool | None = None) -> dict[str, Any]:
    state = flow.dispatch_state()
    for pause in state["pauses"]:
        pause["paused_at"] = to_ms(pause["paused_at"])
    for cap in state["caps"]:
        cap["set_at"] = to_ms(cap["set_at"])
    state["changes"] = [
        {
            "action": c.action,
            "scope": c.scope,
            "key": c.key,
            "limit": c.limit,
            "actor": c.actor,
            "reason": c.reason,
            "at": to_ms(c.created_at),
        }
        for c in state["changes"]
    ]
    return {**state, "changed": changed}


@router.get("", response={200: DispatchOut, **refusals(401, 403)}, summary="Dispatch state")
def dispatch(request: HttpRequest):
    return _view()


@router.post(
    "/pause",
    response={200: DispatchOut, **refusals(*BODY_GUARD, 401, 403, 422)},
    summary="Pause dispatch (all, or of one capability); held work goes on",
)
def pause(request: HttpRequest, body: PauseIn | None = None):
    body = body or PauseIn()
    principal: Principal = request.auth
    changed = flow.pause(actor=principal.actor, capability=body.capability, reason=body.reason)
    return _view(changed)


@router.post(
    "/resume",
    response={200: DispatchOut, **refusals(*BODY_GUARD, 401, 403, 422)},
    summary="Resume dispatch (all, or of one capability); schedules at once",
)
def resume(request: HttpRequest, body: PauseIn | None = None):
    body = body or PauseIn()
    principal: Principal = request.auth
    changed = flow.resume(actor=principal.actor, capability=body.capability, reason=body.reason)
    return _view(changed)


@router.put(
    "/caps",
    response={200: DispatchOut, **refusals(*BODY_GUARD, 401, 403, 422)},
    summary="Set or remove a WIP cap (per capability or per submitter)",
)
def set_cap(request: HttpRequest, body: CapIn):
    principal: Principal = request.auth
    changed = flow.set_cap(
        actor=principal.actor,
        scope=body.scope,
        key=body.key,
        limit=body.limit,
        reason=body.reason,
    )
    return _view(changed)
