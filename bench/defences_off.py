"""The hub with its defences switched off, for measuring what they cost (bench only).

    python -m bench.defences_off manage.py runhub --port 8000      # from the repo root
    python -m bench.defences_off -m uvicorn agentcom_site.asgi:application ...

`bench/hubwrap.py` starts every hub process through this launcher when
`BENCH_DEFENCES=off` (the benches' `--defences off`): it sets Django up, replaces each
defence's entry point with a pass-through (`apply`), then runs the server's own entry
point in the same process, so the process id is still the server's. In-process benches
(`lifecycle_cpu.py`) call `apply()` after `django.setup()`. No hub file changes; the
switch is this module.

Switched off, by defence:

- **Input gate** (`core/validation.py`, `middleware.py`, `asgi.py`, `daphne_server.py`,
  `agents/consumers.py`): bodies and frames are parsed with plain `json.loads` (no depth
  scan before parsing, no walk for NaN, 64-bit integers, NUL or lone surrogates); the
  path and query text check; the body's content-type and size checks in the API guard;
  the 1 MiB body cap while it arrives (daphne's `HubWebRequest`, the ASGI handler's
  declared length and counted `read_body`); the 8 MiB response cap; the socket's frame
  size check; the byte caps and gate rules of stored JSON fields in the schemas
  (`check_json_cap`); and the gate's re-check of every JSON column read
  (`storedjson.read_stored`).
- **Rate limits** (`core/ratelimit.py`, `agents/limits.py`): every charge, take and peek
  admits at once without touching a bucket, and frames are not priced.
- **Revocation checks** (`agents/tokens.py`, `core/auth.py`): identify does not re-check
  its token under the agent lock; a bearer token of an operator is looked up once per
  process and its principal reused, as a hub whose tokens cannot be revoked would do
  (agent principals are still read on every request: routes use the agent row).
- **Metrics** (`core/metrics.py`, `middleware.py`): the counters and histograms of task
  transitions, frames in and out, refusals, rate-limit refusals, HTTP requests,
  scheduling passes and sweep actions are not moved, and the request's route label is
  not resolved. `/metrics` still answers (its database gauges are read at scrape time;
  the benches do not scrape it while measuring).

Kept, because they are not defences or not on a lifecycle's path:

- The typed schemas of bodies and frames (pydantic models with their field types,
  required fields, string lengths and ranges): the handlers need the typed frame, and
  the limits are compiled into the models. A body or frame must still be a JSON object
  (a frame with a string `type`): the hub routes on it.
- Authentication itself (a token still names its principal), the holder and
  generation fence, and every other protocol rule: correctness, not defence.
- The servers' and Django's own size caps (daphne's and uvicorn's WebSocket message
  limit, `DATA_UPLOAD_MAX_MEMORY_SIZE`): one comparison in library code.
- The caps on unidentified sockets, the validation-strike counter and the
  `agent_restarting` counter: a socket is admitted once, strikes count only refusals,
  and restarts are not part of a lifecycle.
- Request ids and log lines: observability, but not the metrics the issue names.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from collections.abc import Callable
from typing import Any

_MISSING = object()
_originals: list[tuple[Any, str, Any]] = []


def _swap(owner: Any, name: str, replacement: Any) -> None:
    if not hasattr(owner, name):
        raise AttributeError(f"{owner!r} has no {name}: the defences moved, update this module")
    # From the owner's own namespace: a staticmethod stays one when it is put back.
    _originals.append((owner, name, vars(owner).get(name, _MISSING)))
    setattr(owner, name, replacement)


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


def _plain_loads(data: str | bytes, *, what: str = "the body") -> Any:
    """JSON without the gate; text that is not JSON at all is still refused."""
    from agentcom_site.core.errors import HubError

    try:
        return json.loads(data)
    except ValueError as exc:
        raise HubError("invalid_json", f"{what} is not valid JSON: {exc}") from None


def _plain_frame(text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
    from agentcom_site.core.errors import FieldProblem, ValidationFailed

    data = text_data if text_data is not None else bytes_data or b""
    frame = _plain_loads(data, what="the frame")
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise ValidationFailed(
            [FieldProblem("type", "required", "a frame is a JSON object with a string type")],
            message_type=None,
        )
    return frame


def _parse_body(self: Any, request: Any) -> Any:
    """The API guard's `_check_body` reduced to what the API parser needs."""
    from agentcom_site.core.errors import HubError

    body = request.body
    try:
        request.parsed_json = _plain_loads(body) if body.strip() else None
    except HubError as refusal:
        return refusal
    return None


def _remembered(authenticate: Callable[[str], Any]) -> Callable[[str], Any]:
    principals: dict[str, Any] = {}

    def remembered(token: str) -> Any:
        principal = principals.get(token)
        if principal is None:
            principal = authenticate(token)
            if principal is not None and principal.is_operator:
                principals[token] = principal
        return principal

    return remembered


def apply() -> list[str]:
    """Switch the defences off in this process (after `django.setup()`); returns what
    was replaced, as `module.name`."""
    from daphne.http_protocol import WebRequest
    from django.core.handlers.asgi import ASGIHandler

    from agentcom_site import asgi, daphne_server, middleware
    from agentcom_site.core import auth, metrics, ratelimit, storedjson, validation
    from agentcom_site.dashboard import consumer as dashboard_consumer
    from agents import consumers, limits, tokens

    if _originals:
        raise RuntimeError("the defences are already off in this process")
    # Input gate.
    _swap(validation, "loads", _plain_loads)
    _swap(validation, "parse_frame", _plain_frame)
    _swap(validation, "check_json_cap", lambda value, cap_key: value)
    _swap(storedjson, "read_stored", lambda text: (json.loads(text), None))
    _swap(middleware, "_check_url_text", _nothing)
    _swap(middleware.ApiBodyGuardMiddleware, "_check_body", _parse_body)
    _swap(consumers, "parse_frame", _plain_frame)
    _swap(dashboard_consumer, "parse_frame", _plain_frame)
    _swap(consumers.AgentConsumer, "_too_large", staticmethod(lambda text_data, bytes_data: False))
    _swap(asgi, "declared_length", lambda scope: None)
    _swap(asgi, "capped", lambda response: response)
    _swap(asgi.HubASGIHandler, "read_body", ASGIHandler.read_body)
    _swap(daphne_server.HubWebRequest, "gotLength", WebRequest.gotLength)
    _swap(daphne_server.HubWebRequest, "handleContentChunk", WebRequest.handleContentChunk)
    # Rate limits.
    _swap(ratelimit, "take", lambda *args, **kwargs: ratelimit.ALLOWED)
    _swap(ratelimit, "take_async", _admitted)
    _swap(ratelimit, "charge", _nothing)
    _swap(ratelimit, "peek_blocked", _nothing)
    _swap(limits, "admit", _nothing_async)
    # Revocation checks.
    _swap(tokens, "token_is_live", lambda token_pk: True)
    _swap(auth, "authenticate", _remembered(auth.authenticate))
    # Metrics.
    for name in (
        "task_transition",
        "frame_in",
        "frame_out",
        "refused",
        "rate_limited",
        "http_request",
        "scheduler_pass",
        "sweep_actions",
    ):
        _swap(metrics, name, _nothing)
    _swap(middleware, "route_of", lambda request: "")
    return [f"{_owner_name(owner)}.{name}" for owner, name, _ in _originals]


async def _admitted(*args: Any, **kwargs: Any) -> Any:
    from agentcom_site.core import ratelimit

    return ratelimit.ALLOWED


async def _nothing_async(*args: Any, **kwargs: Any) -> None:
    return None


def restore() -> None:
    """Undo `apply` (for tests that switch the defences off in their own process)."""
    while _originals:
        owner, name, original = _originals.pop()
        if original is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, original)


def _owner_name(owner: Any) -> str:
    if isinstance(owner, type):
        return f"{owner.__module__}.{owner.__qualname__}"
    return owner.__name__


def main() -> None:
    """Set Django up, switch the defences off, then run `manage.py ...` or `-m module ...`
    as if Python had been started with those arguments."""
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: python -m bench.defences_off (manage.py ... | -m module ...)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentcom_site.settings")
    import django

    django.setup()
    replaced = apply()
    print(f"bench: defences off ({len(replaced)} entry points replaced)", flush=True)
    if args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = args
        runpy.run_path(args[0], run_name="__main__")


if __name__ == "__main__":
    main()
