"""The MCP server for agent sessions, through the SDK's own client, a real sidecar and a real
hub: the tools as a client lists them, the task tools acting on the held task (and refused
once it is gone), the hub tools acting as the agent, and the local socket's gate."""

import asyncio
import json
import os
import stat

import pytest

from sidecar import agenttools
from sidecar.localsocket import REQUEST_MAX_BYTES
from tests.e2e.agents import wait_until
from tests.e2e.mcp_session import (
    call,
    held,
    record,
    refused,
    session,
    socket_ready,
    start_sidecar,
    stop_sidecars,  # noqa: F401 - autouse: no sidecar outlives its test
    submit,
    task_env,
)

pytestmark = pytest.mark.e2e

TOOL_NAMES = {
    "current_task",
    "report_progress",
    "ask_operator",
    "complete_task",
    "fail_task",
    "submit_task",
    "task_status",
    "send_message",
    "read_mailbox",
    "ack_mailbox",
    "publish",
    "channel_history",
    "list_agents",
}


@pytest.fixture
def hub(start_hub):
    return start_hub()


async def test_a_client_lists_every_tool_with_its_schema(backend, hub, tmp_path):
    sidecar = start_sidecar(backend, hub, tmp_path, "lister")
    await socket_ready(sidecar)

    async with session(sidecar) as client:
        listed = (await client.list_tools()).tools

    assert {tool.name for tool in listed} == TOOL_NAMES
    by_name = {tool.name: tool for tool in listed}
    for tool in listed:
        assert tool.description and len(tool.description) > 30, tool.name
        assert tool.input_schema["type"] == "object"
        assert tool.input_schema["additionalProperties"] is False
    question = by_name["ask_operator"].input_schema
    assert question["required"] == ["question"]
    assert question["properties"]["question"]["maxLength"] == 4000
    complete = by_name["complete_task"].input_schema["properties"]
    assert set(complete) == {"output", "pr_url", "tokens_in", "tokens_out", "cost_usd", "model"}
    submit_props = by_name["submit_task"].input_schema["properties"]
    assert submit_props["depends_on"]["maxItems"] == 100
    assert {"pinned_to", "needed_capabilities", "priority", "title"} <= set(submit_props)


async def test_a_session_works_its_task_and_is_refused_once_it_is_gone(backend, hub, tmp_path):
    ops = backend.operator_token()
    sidecar = start_sidecar(backend, hub, tmp_path, "worker")
    await socket_ready(sidecar)
    task_id = await submit(
        hub, ops, description="write the report", success_criteria="a file named report.md"
    )
    local = await held(sidecar, task_id)

    async with session(sidecar, **task_env(task_id, local["generation"])) as client:
        current = (await call(client, "current_task"))["task"]
        assert current["task_id"] == task_id
        assert current["description"] == "write the report"
        assert current["success_criteria"] == "a file named report.md"

        await call(client, "report_progress", {"text": "drafting", "percent": 40})

        async def progress_on_hub():
            return (await record(hub, ops, task_id))["progress"]

        await wait_until(lambda: _eq(progress_on_hub, {"text": "drafting", "percent": 40}))

        done = await call(client, "complete_task", {"output": "wrote report.md", "tokens_in": 12})
        assert done["status"] == "success"

        async def completed():
            return (await record(hub, ops, task_id))["status"] == "completed"

        await wait_until(completed, timeout=20)
        finished = await record(hub, ops, task_id)
        assert finished["result"]["output"] == "wrote report.md"
        assert finished["tokens_in"] == 12

        # The task is gone from this agent: the same session may no longer act on it.
        gone = await refused(client, "report_progress", {"text": "still here?"})
        assert gone["error"] == "not_assignee"
        assert (await refused(client, "complete_task", {"output": "again"}))["error"] == (
            "not_assignee"
        )
        assert (await call(client, "current_task"))["task"] is None
    assert (await record(hub, ops, task_id))["result"]["output"] == "wrote report.md"


async def _eq(read, expected) -> bool:
    return await read() == expected


async def test_a_session_of_an_earlier_generation_is_refused(backend, hub, tmp_path):
    ops = backend.operator_token()
    sidecar = start_sidecar(backend, hub, tmp_path, "fenced")
    await socket_ready(sidecar)
    task_id = await submit(hub, ops, description="fenced work")
    local = await held(sidecar, task_id)

    async with session(sidecar, **task_env(task_id, local["generation"] + 5)) as client:
        stale = await refused(client, "complete_task", {"output": "too late"})
    async with session(sidecar, **task_env("task-0000000000000bad", 1)) as client:
        other = await refused(client, "fail_task", {"reason": "not mine"})

    assert stale["error"] == "stale_generation"
    assert other["error"] == "not_assignee"
    assert (await record(hub, ops, task_id))["status"] == "working"
    assert not (sidecar.results_dir / f"{task_id}.json").exists()


async def test_hub_tools_act_as_the_agent(backend, hub, tmp_path):
    ops = backend.operator_token()
    sidecar = start_sidecar(backend, hub, tmp_path, "talker")
    backend.create_agents(["listener"])
    await socket_ready(sidecar)
    status, _ = await hub.ahttp("POST", "/api/channels", {"name": "crew"}, ops)
    assert status == 201

    async with session(sidecar) as client:
        agents = await call(client, "list_agents")
        assert "talker" in {agent["agent_id"] for agent in agents["agents"]}

        sent = await call(client, "send_message", {"to": "listener", "text": "hello"})
        assert sent["status"] == "sent"
        unknown = await refused(client, "send_message", {"to": "nobody-here", "text": "hi"})
        assert unknown["error"] == "unknown_agent"

        published = await call(client, "publish", {"channel": "#crew", "payload": {"n": 1}})
        assert published["status"] == "published"
        missing = await refused(client, "publish", {"channel": "nowhere", "payload": {}})
        assert missing["error"] == "channel_not_found"
        child = await call(
            client,
            "submit_task",
            {"description": "a part", "priority": "high", "pinned_to": "listener"},
        )
        status = await call(client, "task_status", {"task_id": child["task_id"]})
        assert status["status"] == "queued"
        mailbox = await call(client, "read_mailbox")
        assert mailbox["agent_id"] == "talker"
        history = await call(client, "channel_history", {"channel": "crew", "limit": 5})
        assert [m["message"]["payload"] for m in history["messages"]] == [{"n": 1}]

    _, mail = await hub.ahttp("GET", "/api/mailbox/listener", token=ops)
    assert [m["payload"] for m in mail["messages"]] == [{"text": "hello"}]
    assert mail["messages"][0]["from"] == "talker"
    submitted = await record(hub, ops, child["task_id"])
    assert submitted["submitted_by"] == "talker"
    assert submitted["priority"] == 1


async def test_bad_arguments_are_refused_naming_the_field_and_change_nothing(
    backend, hub, tmp_path
):
    ops = backend.operator_token()
    sidecar = start_sidecar(backend, hub, tmp_path, "strict")
    await socket_ready(sidecar)
    task_id = await submit(hub, ops, description="strict work")
    local = await held(sidecar, task_id)

    async with session(sidecar, **task_env(task_id, local["generation"])) as client:
        long_question = await refused(client, "ask_operator", {"question": "?" * 4001})
        empty = await refused(client, "complete_task", {"output": "   "})
        extra = await refused(client, "fail_task", {"reason": "x", "force": True})
        nul = await refused(client, "report_progress", {"text": "a\x00b"})
        deep = {"a": []}
        cursor = deep["a"]
        for _ in range(40):
            cursor.append([])
            cursor = cursor[0]
        nested = await refused(client, "send_message", {"to": "strict", "payload": deep})
        unknown = await refused(client, "drop_tables")

    assert long_question["errors"][0] == {
        "field": "question",
        "error": "too_long",
        "detail": "question is over 4000",
    }
    assert empty["errors"][0]["field"] == "output"
    assert extra["errors"][0]["field"] == "force"
    assert nul["errors"][0]["error"] == "invalid_value"
    assert nested["errors"][0]["error"] == "too_large"
    assert unknown["error"] == "unknown_tool"
    assert (await record(hub, ops, task_id))["status"] == "working"
    assert not (sidecar.results_dir / f"{task_id}.json").exists()


async def test_the_local_socket_is_private_and_survives_hostile_requests(backend, hub, tmp_path):
    sidecar = start_sidecar(backend, hub, tmp_path, "guarded")
    path = await socket_ready(sidecar)
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600

    reader, writer = await asyncio.open_unix_connection(str(path), limit=16 * 1024 * 1024)

    async def answer_to(data: bytes) -> dict:
        writer.write(data)
        await writer.drain()
        return json.loads(await asyncio.wait_for(reader.readline(), 10))

    oversized = await answer_to(b"x" * (REQUEST_MAX_BYTES + 10) + b"\n")
    garbage = await answer_to(b"\xff\xfe not json\n")
    wrong_shape = await answer_to(b"[1, 2]\n")
    deep = await answer_to(b"[" * 100_000 + b"\n")
    no_tool = await answer_to(b'{"arguments": {}}\n')
    still_working = await answer_to(b'{"tool": "list_agents"}\n')
    writer.close()

    assert oversized["error"] == "too_large"
    assert garbage["error"] == "invalid_json"
    assert wrong_shape["error"] == "invalid_request"
    assert deep["error"] in ("invalid_json", "invalid_request")
    assert no_tool["error"] == "invalid_request"
    assert still_working["ok"] is True
    assert "guarded" in {a["agent_id"] for a in still_working["result"]["agents"]}
    assert sidecar.process.poll() is None


def test_the_schemas_only_use_keywords_the_gate_checks():
    checked = {"type", "properties", "required", "additionalProperties", "description"}
    checked |= {"minLength", "maxLength", "pattern", "enum", "minimum", "maximum"}
    checked |= {"items", "maxItems"}

    def keywords(schema):
        found = set(schema)
        for sub in schema.get("properties", {}).values():
            found |= keywords(sub)
        if "items" in schema:
            found |= keywords(schema["items"])
        return found

    for spec in agenttools.TOOLS:
        assert keywords(spec.input_schema) <= checked, spec.name
