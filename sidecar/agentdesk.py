"""Answering an agent session's tool calls inside the running sidecar (PROTOCOL.md §6.8).

A call arrives on the local socket as ``{"tool", "arguments", "task_id"?, "generation"?}``;
``task_id`` and ``generation`` name the task the session was woken for, when it knows.
Each call is checked against its schema (sidecar.agenttools) before anything is sent,
then acts as this agent and only this agent: task tools on the task the sidecar holds
(refused with the protocol's ``not_assignee`` / ``stale_generation`` when the session's
task is not, or no longer, the one held), the rest through the hub's HTTP API with the
agent's own token (sidecar.hubapi). ``complete_task`` and ``fail_task`` write the task's
result file, so the sidecar's one path for results applies (git submit, verification).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sidecar import agenttools, frames
from sidecar.config import SidecarConfig
from sidecar.hubapi import HubApi, quote_segment
from sidecar.localsocket import Answer, LocalSocketServer, refusal, socket_path
from sidecar.localtask import LocalTask
from sidecar.logs import EventLog
from sidecar.operatoranswers import OperatorAnswers
from sidecar.report import build_result, write_result
from sidecar.slot import TaskSlot

Send = Callable[[dict[str, Any]], Awaitable[bool]]
ACK_TIMEOUT_S = 30
# What current_task shows of the local task: what the session needs to do the work.
TASK_FIELDS = (
    "task_id",
    "generation",
    "title",
    "description",
    "metadata",
    "priority",
    "complete_by",
    "repo",
    "base_branch",
    "branch",
    "success_criteria",
    "file_hints",
    "verification_steps",
    "complexity",
    "previous_attempts",
    "operator_answers",
)


def ok(result: Any) -> Answer:
    return {"ok": True, "result": result}


class AgentDesk:
    def __init__(
        self,
        config: SidecarConfig,
        log: EventLog,
        slot: TaskSlot,
        send: Send,
        answers: OperatorAnswers,
    ) -> None:
        self._config = config
        self._log = log
        self._slot = slot
        self._send = send
        self._answers = answers
        self._api = HubApi(config)
        self._server = LocalSocketServer(socket_path(config.sidecar_dir), self.handle)
        self._starting: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._starting = asyncio.create_task(self._start())

    async def _start(self) -> None:
        try:
            await self._server.start()
            self._log.info("mcp_socket_ready", path=str(socket_path(self._config.sidecar_dir)))
        except OSError as exc:  # the relay works on without it; sessions get a clear error
            self._log.error("mcp_socket_failed", error=f"{type(exc).__name__}: {exc}")

    async def stop(self) -> None:
        if self._starting is not None:
            await asyncio.gather(self._starting, return_exceptions=True)
        await self._server.stop()

    async def handle(self, request: dict[str, Any]) -> Answer:
        """One session request's answer; never raises."""
        try:
            return await self._handle(request)
        except Exception as exc:  # a bug in one tool must not end the session's socket
            self._log.error(
                "session_tool_error",
                tool=request["tool"][:64],
                error=f"{type(exc).__name__}: {exc}",
            )
            return refusal("internal_error", f"the sidecar failed: {type(exc).__name__}")

    async def _handle(self, request: dict[str, Any]) -> Answer:
        spec = agenttools.BY_NAME.get(request["tool"])
        if spec is None:
            return refusal("unknown_tool", f"no tool is called {request['tool'][:64]!r}")
        arguments = request.get("arguments") or {}
        errors = agenttools.check(spec, arguments)
        if errors:
            return refusal(
                "validation_failed",
                "; ".join(error.detail for error in errors[:5]),
                errors=[error.to_json() for error in errors[:20]],
            )
        if spec.task_bound:
            task = self._slot.active
            fenced = _fence(task, request.get("task_id"), request.get("generation"))
            if fenced is not None:
                if spec.name == "current_task" and fenced["error"] == "not_assignee":
                    return ok({"task": None, "message": fenced["detail"]})
                return fenced
            assert task is not None
            return await getattr(self, f"_{spec.name}")(task, arguments)
        return await getattr(self, f"_{spec.name}")(arguments)

    # ----- the held task -------------------------------------------------

    async def _current_task(self, task: LocalTask, arguments: dict[str, Any]) -> Answer:
        fields = task.to_json()
        return ok({"task": {key: fields[key] for key in TASK_FIELDS if key in fields}})

    async def _report_progress(self, task: LocalTask, arguments: dict[str, Any]) -> Answer:
        progress = {"text": arguments["text"]}
        if arguments.get("percent") is not None:
            progress["percent"] = arguments["percent"]
        # Also a sign of life for the keepalive (§6.5), as a .progress file would be.
        if not await self._send(frames.task_progress(task, [progress])):
            return _not_connected()
        return ok({"reported": progress})

    async def _ask_operator(self, task: LocalTask, arguments: dict[str, Any]) -> Answer:
        return await self._answers.ask(task, arguments["question"])

    async def _complete_task(self, task: LocalTask, arguments: dict[str, Any]) -> Answer:
        result = build_result(
            status="success", output=arguments["output"], pr_url=arguments.get("pr_url")
        )
        for key in ("tokens_in", "tokens_out", "cost_usd", "model"):
            if arguments.get(key) is not None:
                result[key] = arguments[key]
        return self._write(task, result)

    async def _fail_task(self, task: LocalTask, arguments: dict[str, Any]) -> Answer:
        return self._write(task, build_result(status="failed", reason=arguments["reason"]))

    def _write(self, task: LocalTask, result: dict[str, Any]) -> Answer:
        write_result(self._config.results_dir, task.task_id, result)
        self._log.info("session_result", task_id=task.task_id, status=result["status"])
        return ok(
            {
                "task_id": task.task_id,
                "status": result["status"],
                "detail": "the sidecar reports it to the hub; this session's work on it is done",
            }
        )

    # ----- the hub's HTTP API, as this agent -----------------------------

    async def _submit_task(self, arguments: dict[str, Any]) -> Answer:
        body = {k: v for k, v in arguments.items() if k != "pinned_to"}
        if arguments.get("pinned_to"):
            body["assign_to"] = arguments["pinned_to"]
        answer = await self._api.call("POST", "/api/tasks", body)
        return _relayed(answer.status, answer.body)

    async def _task_status(self, arguments: dict[str, Any]) -> Answer:
        answer = await self._api.call("GET", f"/api/tasks/{quote_segment(arguments['task_id'])}")
        if answer.ok and isinstance(answer.body, dict):
            body = answer.body
            keep = (
                "id",
                "title",
                "status",
                "assigned_to",
                "parent",
                "children",
                "progress",
                "result",
                "last_error",
                "retry_count",
                "created_at",
                "completed_at",
            )
            return ok({key: body.get(key) for key in keep if key in body})
        return _relayed(answer.status, answer.body)

    async def _send_message(self, arguments: dict[str, Any]) -> Answer:
        payload = arguments.get("payload")
        if payload is None and arguments.get("text") is None:
            return refusal("validation_failed", "give text or payload", errors=[])
        if payload is None:
            payload = {"text": arguments["text"]}
        body = {"to": arguments["to"], "payload": payload, "type": "chat"}
        answer = await self._api.call("POST", "/api/message", body)
        return _relayed(answer.status, answer.body)

    async def _read_mailbox(self, arguments: dict[str, Any]) -> Answer:
        path = f"/api/mailbox/{quote_segment(self._config.agent_id)}"
        answer = await self._api.call("GET", path, since=arguments.get("since") or 0)
        return _relayed(answer.status, answer.body)

    async def _ack_mailbox(self, arguments: dict[str, Any]) -> Answer:
        path = f"/api/mailbox/{quote_segment(self._config.agent_id)}/ack"
        answer = await self._api.call("POST", path, {"seq": arguments["seq"]})
        return _relayed(answer.status, answer.body)

    async def _publish(self, arguments: dict[str, Any]) -> Answer:
        path = f"/api/channels/{quote_segment(arguments['channel'].lstrip('#'))}/publish"
        answer = await self._api.call("POST", path, {"payload": arguments["payload"]})
        return _relayed(answer.status, answer.body)

    async def _channel_history(self, arguments: dict[str, Any]) -> Answer:
        path = f"/api/channels/{quote_segment(arguments['channel'].lstrip('#'))}/history"
        answer = await self._api.call("GET", path, limit=arguments.get("limit") or 20)
        return _relayed(answer.status, answer.body)

    async def _list_agents(self, arguments: dict[str, Any]) -> Answer:
        answer = await self._api.call("GET", "/api/agents")
        return _relayed(answer.status, answer.body)


def _fence(task: LocalTask | None, task_id: Any, generation: Any) -> Answer | None:
    """The protocol's fencing (§3.3) for the session's task against the held one."""
    if task is None:
        return refusal("not_assignee", "this agent holds no task now")
    if task_id is not None and task_id != task.task_id:
        return refusal("not_assignee", f"this agent no longer holds {str(task_id)[:64]}")
    if generation is not None and generation != task.generation:
        return refusal(
            "stale_generation",
            f"the task was handed out again (generation {task.generation}, not {generation})",
        )
    return None


def _relayed(status: int, body: Any) -> Answer:
    if 200 <= status < 300:
        return ok(body)
    body = body if isinstance(body, dict) else {}
    extra = {k: body[k] for k in ("errors", "retry_after_ms") if k in body}
    code = body.get("error") or f"http_{status}"
    detail = body.get("detail") or f"the hub answered {status}"
    return refusal(str(code), str(detail), status=status, **extra)


def _not_connected() -> Answer:
    return refusal("hub_unreachable", "the sidecar is not connected to the hub; try again soon")
