"""Hostile tool arguments through the SDK's MCP client, a real sidecar and a real hub:
every call ends as a tool result (success, or an error with a code and a sentence),
and neither the MCP server nor the sidecar falls over."""

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar import agenttools
from tests.e2e.mcp_session import (
    call,
    session,
    socket_ready,
    start_sidecar,
    stop_sidecars,  # noqa: F401 - autouse: no sidecar outlives its test
)

pytestmark = pytest.mark.e2e

NAMES = [spec.name for spec in agenttools.TOOLS]
ARGUMENT_NAMES = sorted({key for spec in agenttools.TOOLS for key in spec.properties})
# Any text the client can encode (lone surrogates cannot be sent as JSON by the SDK).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
EDGE_TEXT = st.sampled_from(["", " ", "\x00", "#crew", "task-0000000000000001", "a" * 4001])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    EDGE_TEXT,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
CALLS = st.tuples(
    st.sampled_from([*NAMES, "no_such_tool"]),
    st.dictionaries(st.one_of(st.sampled_from(ARGUMENT_NAMES), TEXT), VALUES, max_size=5),
)


async def test_hostile_tool_arguments_always_get_a_result(backend, start_hub, tmp_path):
    hub = start_hub()
    sidecar = start_sidecar(backend, hub, tmp_path, "fuzzed")
    await socket_ready(sidecar)
    loop = asyncio.get_running_loop()
    seen_errors: set[str] = set()

    async with session(sidecar) as client:

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(CALLS)
        def one_call(tool_call):
            name, arguments = tool_call
            future = asyncio.run_coroutine_threadsafe(client.call_tool(name, arguments), loop)
            result = future.result(timeout=30)
            body = result.structured_content
            if result.is_error:
                assert isinstance(body["error"], str) and body["error"], body
                assert isinstance(body["detail"], str) and body["detail"], body
                seen_errors.add(body["error"])
            else:
                assert isinstance(body, dict), body

        await asyncio.to_thread(one_call)

        assert "validation_failed" in seen_errors
        assert "unknown_tool" in seen_errors
        agents = await call(client, "list_agents")
        assert "fuzzed" in {agent["agent_id"] for agent in agents["agents"]}
    assert sidecar.process.poll() is None
    assert "session_tool_error" not in sidecar.log_file.read_text()
