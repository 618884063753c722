"""A session's question against a fake hub: the frames the sidecar sends, what it does with
the hub's answers, refusals and repeated pushes."""

import asyncio

from sidecar.localsocket import ask
from tests.e2e.agents import wait_until
from tests.sidecar.harness import SELF_WAKE, fast_config, task_assign

TASK = "task-00000000000000a1"


async def ready(hub, make_sidecar, **overrides):
    sidecar = make_sidecar(fast_config(hub.url, **SELF_WAKE, **overrides)).start()
    identify = await hub.expect("identify")
    assert identify["features"] == ["input_required"]
    await hub.send(task_assign(TASK, generation=3))
    await hub.expect("task_accepted")
    await sidecar.wait_for_status("working")
    path = sidecar.dir / "mcp.sock"
    await sidecar.wait_for(path.exists, "mcp.sock")
    return sidecar, path


def question(text="Which branch?", **fence):
    return {"tool": "ask_operator", "arguments": {"question": text}, **fence}


async def test_the_answer_returns_to_the_call_once_and_a_repeat_push_is_ignored(hub, make_sidecar):
    sidecar, path = await ready(hub, make_sidecar)
    asking = asyncio.create_task(ask(path, question(task_id=TASK, generation=3)))

    sent = await hub.expect("task_input_required")
    assert sent == {
        "type": "task_input_required",
        "task_id": TASK,
        "generation": 3,
        "question": "Which branch?",
        "protocol_version": 1,
    }
    await hub.send({"type": "task_ack", "task_id": TASK, "status": "input_required"})
    answer = {
        "type": "task_input",
        "task_id": TASK,
        "generation": 3,
        "answer_id": 1,
        "question": "Which branch?",
        "answer": "main",
    }
    await hub.send(answer)
    delivered = await hub.expect("task_progress")
    result = await asyncio.wait_for(asking, 10)

    assert result["ok"] is True
    assert result["result"]["answer"] == "main"
    assert delivered["task_id"] == TASK and "progress" not in delivered
    await hub.send(answer)  # pushed again, as after a reconnect
    await wait_until(lambda: sidecar.log_file.exists() and "task_input_repeated" in _log(sidecar))
    kept = sidecar.queue()["active"]["operator_answers"]
    assert [(a["answer_id"], a["answer"]) for a in kept] == [(1, "main")]
    assert hub.count("task_progress") == 1


async def test_a_refusal_is_returned_at_once_with_the_hubs_reason(hub, make_sidecar):
    _, path = await ready(hub, make_sidecar)
    asking = asyncio.create_task(ask(path, question()))
    await hub.expect("task_input_required")
    await hub.send(
        {
            "type": "error",
            "error": "task_input_required_failed: invalid_state",
            "task_id": TASK,
        }
    )

    result = await asyncio.wait_for(asking, 10)

    assert result["ok"] is False
    assert result["error"] == "invalid_state"


async def test_a_hub_that_does_not_know_the_frame_refuses_the_question(hub, make_sidecar):
    _, path = await ready(hub, make_sidecar)
    asking = asyncio.create_task(ask(path, question()))
    await hub.expect("task_input_required")
    await hub.send(
        {"type": "error", "error": "unknown_message_type", "detail": "task_input_required"}
    )

    result = await asyncio.wait_for(asking, 10)

    assert result["error"] == "unknown_message_type"


async def test_an_answer_for_another_task_is_ignored(hub, make_sidecar):
    sidecar, _ = await ready(hub, make_sidecar)
    await hub.send(
        {
            "type": "task_input",
            "task_id": "task-00000000000000ff",
            "generation": 1,
            "answer_id": 1,
            "question": "?",
            "answer": "not yours",
        }
    )
    await wait_until(lambda: "task_input_ignored" in _log(sidecar))

    assert "operator_answers" not in sidecar.queue()["active"]
    assert hub.count("task_progress") == 0


def _log(sidecar) -> str:
    return sidecar.log_file.read_text() if sidecar.log_file.exists() else ""
