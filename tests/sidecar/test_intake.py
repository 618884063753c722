"""Identify, task intake, wake via the fake agent, and results reaching the hub."""

from __future__ import annotations

import json

from tests.sidecar.harness import (
    PYTHON,
    SELF_WAKE,
    TOKEN,
    fast_config,
    task_assign,
    write_result,
)


async def test_identify_frame_matches_the_protocol(hub, make_sidecar):
    make_sidecar(fast_config(hub.url)).start()

    identify = await hub.expect("identify")

    assert identify == {
        "type": "identify",
        "agent_id": "gcu-sleeper",
        "token": TOKEN,
        "name": "gcu-sleeper",
        "status": "idle",
        "capabilities": ["code", "python"],
        "client_type": "sidecar",
        "presence": False,
        "features": ["input_required"],
        "protocol_version": 1,
    }


async def test_assigned_task_is_saved_accepted_woken_and_completed(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url)).start()
    await hub.expect("identify")

    await hub.send(task_assign(generation=7))
    accepted = await hub.expect("task_accepted")
    saved = sidecar.queue()["active"]
    wake = await hub.expect("wake_result")
    complete = await hub.expect("task_complete")

    assert accepted == {
        "type": "task_accepted",
        "task_id": "task-00000000000000a1",
        "generation": 7,
        "protocol_version": 1,
    }
    assert saved["task_id"] == "task-00000000000000a1"
    assert saved["generation"] == 7
    assert wake["status"] == "success" and wake["attempt"] == 1
    assert complete["generation"] == 7
    assert complete["result"] == {
        "status": "success",
        "output": "done: say hello",
        "tokens_used": 42,
    }
    assert complete["tokens_used"] == 42
    assert (sidecar.dir / "wakes.txt").read_text().splitlines() == ["task-00000000000000a1"]
    assert not list(sidecar.results_dir.iterdir())
    assert sidecar.queue()["active"] is None


async def test_hub_ack_settles_the_kept_completion(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url)).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    await hub.expect("task_complete")
    assert [f["type"] for f in sidecar.queue()["pending_reports"]] == ["task_complete"]

    await hub.send({"type": "task_ack", "task_id": "task-00000000000000a1", "status": "complete"})

    await sidecar.wait_for(lambda: sidecar.queue()["pending_reports"] == [], "ack to settle")


async def test_second_task_while_one_is_held_is_rejected_busy(hub, make_sidecar):
    config = fast_config(hub.url, wake_command=f"{PYTHON} -m sidecar.fake_agent --outcome none")
    make_sidecar(config).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    await hub.expect("task_accepted")

    await hub.send(task_assign(task_id="task-00000000000000b2", generation=3))
    rejected = await hub.expect("task_rejected")

    assert rejected == {
        "type": "task_rejected",
        "task_id": "task-00000000000000b2",
        "reason": "busy",
        "generation": 3,
        "protocol_version": 1,
    }


async def test_failure_result_is_reported_with_its_reason(hub, make_sidecar):
    wake = f"{PYTHON} -m sidecar.fake_agent --delay 0.05 --outcome failure --reason compile_error"
    make_sidecar(fast_config(hub.url, wake_command=wake)).start()
    await hub.expect("identify")

    await hub.send(task_assign(generation=2))
    failed = await hub.expect("task_failed")

    assert failed["reason"] == "compile_error"
    assert failed["generation"] == 2


async def test_unparseable_result_fails_with_parse_error(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url, **SELF_WAKE)).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    await hub.expect("task_accepted")
    await sidecar.wait_for_status("working")

    (sidecar.results_dir / "task-00000000000000a1.json").write_text("{not json")
    failed = await hub.expect("task_failed")

    assert failed["reason"].startswith("result_parse_error: ")


async def test_results_of_other_tasks_are_ignored(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url, **SELF_WAKE)).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    await sidecar.wait_for_status("working")

    write_result(sidecar.results_dir, "task-00000000000000ff", {"status": "success"})
    write_result(sidecar.results_dir, "task-00000000000000a1", {"status": "success", "output": "x"})
    complete = await hub.expect("task_complete")

    assert complete["task_id"] == "task-00000000000000a1"
    assert (sidecar.results_dir / "task-00000000000000ff.json").exists()


async def test_wake_command_gets_the_task_through_its_environment(hub, make_sidecar):
    wake = (
        'printf "%s\\n" "${TASK_ID}" "${TASK_DESCRIPTION}" > wake-args.txt; '
        "env | grep ^AGENTCOM_ | sort > wake-env.txt; "
        'cp "$AGENTCOM_TASK_FILE" task-copy.json; '
        'touch "$AGENTCOM_RESULTS_DIR/$AGENTCOM_TASK_ID.started"'
    )
    sidecar = make_sidecar(fast_config(hub.url, wake_command=wake)).start()
    await hub.expect("identify")

    await hub.send(task_assign(description='fix "quoted" $HOME'))
    await sidecar.wait_for_status("working")

    args = (sidecar.dir / "wake-args.txt").read_text().splitlines()
    env = dict(
        line.split("=", 1) for line in (sidecar.dir / "wake-env.txt").read_text().splitlines()
    )
    task_copy = json.loads((sidecar.dir / "task-copy.json").read_text())
    # The shell expands ${TASK_DESCRIPTION} once and does not expand the $HOME inside it.
    assert args == ["task-00000000000000a1", 'fix "quoted" $HOME']
    assert env["AGENTCOM_TASK_ID"] == "task-00000000000000a1"
    assert env["AGENTCOM_TASK_DESCRIPTION"] == 'fix "quoted" $HOME'
    assert env["AGENTCOM_TASK_GENERATION"] == "1"
    assert env["AGENTCOM_RESULTS_DIR"] == str(sidecar.results_dir)
    assert env["AGENTCOM_SIDECAR_CONFIG"] == str(sidecar.config_path)
    assert json.loads(env["AGENTCOM_TASK_JSON"])["task_id"] == "task-00000000000000a1"
    assert task_copy["description"] == 'fix "quoted" $HOME'


async def test_progress_file_and_keepalive_reach_the_hub(hub, make_sidecar):
    wake = f"{PYTHON} -m sidecar.fake_agent --delay 0.1 --progress --outcome none"
    make_sidecar(fast_config(hub.url, wake_command=wake, progress_interval_ms=200)).start()
    await hub.expect("identify")
    await hub.send(task_assign(generation=4))

    reported = await hub.expect("task_progress")
    keepalive = await hub.expect("task_progress")

    assert reported["progress"] == {"percent": 50}
    assert reported["generation"] == 4
    assert keepalive["task_id"] == "task-00000000000000a1"


async def test_cancelled_task_runs_cancel_command_and_frees_the_slot(hub, make_sidecar):
    config = fast_config(
        hub.url,
        wake_command=f"{PYTHON} -m sidecar.fake_agent --outcome none",
        cancel_command='echo "${TASK_ID}" > cancelled.txt',
    )
    sidecar = make_sidecar(config).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    await hub.expect("task_accepted")
    await sidecar.wait_for_status("working")

    await hub.send({"type": "task_cancelled", "task_id": "task-00000000000000a1", "reason": "x"})
    await sidecar.wait_for(lambda: (sidecar.dir / "cancelled.txt").exists(), "cancel command")
    await hub.send(task_assign(task_id="task-00000000000000b2"))
    accepted = await hub.expect("task_accepted")

    assert (sidecar.dir / "cancelled.txt").read_text().strip() == "task-00000000000000a1"
    assert accepted["task_id"] == "task-00000000000000b2"
    assert not (sidecar.results_dir / "task-00000000000000a1.started").exists()


async def test_result_left_from_an_earlier_assignment_is_not_reused(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url, **SELF_WAKE)).start()
    write_result(
        sidecar.results_dir, "task-00000000000000a1", {"status": "success", "output": "old"}
    )
    await hub.expect("identify")

    await hub.send(task_assign(generation=3))
    await sidecar.wait_for_status("working")
    write_result(
        sidecar.results_dir, "task-00000000000000a1", {"status": "success", "output": "new"}
    )
    complete = await hub.expect("task_complete")

    assert complete["result"]["output"] == "new"
    assert complete["generation"] == 3


async def test_a_failure_reason_is_cut_to_what_the_hub_accepts(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url, **SELF_WAKE)).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    await sidecar.wait_for_status("working")

    write_result(
        sidecar.results_dir, "task-00000000000000a1", {"status": "failed", "reason": "x" * 5000}
    )
    failed = await hub.expect("task_failed")

    assert failed["reason"] == "x" * 2000
