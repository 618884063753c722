"""Restart and reconnect recovery (§6.2) and resending unacknowledged reports."""

from __future__ import annotations

import json

from sidecar.shell import kill_group
from tests.sidecar.harness import PYTHON, fast_config, task_assign, write_result

TASK = "task-00000000000000a1"
NO_RESULT_WAKE = f"{PYTHON} -m sidecar.fake_agent --outcome none --counter-file wakes.txt"


async def start_working_then_stop(hub, sidecar):
    """Assign TASK, wait until the agent confirmed it, then stop the sidecar cleanly."""
    sidecar.start()
    await hub.expect("identify")
    await hub.send(task_assign(generation=1))
    await hub.expect("task_accepted")
    await sidecar.wait_for_status("working")
    assert await sidecar.stop() == 0


async def test_restart_reports_the_task_and_continue_picks_up_the_result(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url, wake_command=NO_RESULT_WAKE))
    await start_working_then_stop(hub, sidecar)
    write_result(sidecar.results_dir, TASK, {"status": "success", "output": "while down"})

    sidecar.start()
    await hub.expect("identify")
    recovering = await hub.expect("task_recovering")
    report = await hub.expect("state_report")
    await hub.send({"type": "task_continue", "task_id": TASK, "generation": 1})
    complete = await hub.expect("task_complete")

    assert recovering == {
        "type": "task_recovering",
        "task_id": TASK,
        "description": "say hello",
        "metadata": {"k": 1},
        "last_status": "working",
        "protocol_version": 1,
    }
    assert report == {
        "type": "state_report",
        "task_id": TASK,
        "status": "working",
        "generation": 1,
        "assigned_at": 1767225600000,
        "protocol_version": 1,
    }
    assert complete["result"]["output"] == "while down"
    assert (sidecar.dir / "wakes.txt").read_text().splitlines() == [TASK]


async def test_continued_task_uses_the_generation_from_task_continue(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url, wake_command=NO_RESULT_WAKE))
    await start_working_then_stop(hub, sidecar)

    sidecar.start()
    await hub.expect("task_recovering")
    await hub.send({"type": "task_continue", "task_id": TASK, "generation": 4})
    await sidecar.wait_for(
        lambda: (sidecar.queue().get("active") or {}).get("generation") == 4, "continue"
    )
    write_result(sidecar.results_dir, TASK, {"status": "success"})
    complete = await hub.expect("task_complete")

    assert complete["generation"] == 4
    assert hub.count("wake_result") == 1  # only the first run woke the agent


async def test_reassigned_recovering_task_is_dropped_and_the_slot_freed(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url, wake_command=NO_RESULT_WAKE))
    await start_working_then_stop(hub, sidecar)

    sidecar.start()
    await hub.expect("task_recovering")
    await hub.send({"type": "task_reassign", "task_id": TASK})
    await sidecar.wait_for(lambda: sidecar.queue().get("recovering") is None, "recovering cleared")
    await hub.send(task_assign(task_id="task-00000000000000b2", generation=2))
    accepted = await hub.expect("task_accepted")

    assert accepted["task_id"] == "task-00000000000000b2"
    assert not (sidecar.results_dir / f"{TASK}.started").exists()


async def test_task_assigned_while_recovering_is_rejected_busy(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url, wake_command=NO_RESULT_WAKE))
    await start_working_then_stop(hub, sidecar)

    sidecar.start()
    await hub.expect("task_recovering")
    await hub.send(task_assign(task_id="task-00000000000000b2", generation=2))
    rejected = await hub.expect("task_rejected")

    assert rejected["reason"] == "busy"


async def test_reconnect_with_live_task_sends_state_report_and_abort_drops_it(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url, wake_command=NO_RESULT_WAKE)).start()
    await hub.expect("identify")
    await hub.send(task_assign(generation=3))
    await sidecar.wait_for_status("working")

    await hub.drop()
    await hub.expect("identify")
    report = await hub.expect("state_report")
    await hub.send({"type": "state_report_ack", "task_id": TASK, "action": "abort"})
    await sidecar.wait_for(lambda: sidecar.queue().get("active") is None, "task dropped")

    assert report["generation"] == 3 and report["status"] == "working"
    assert hub.count("task_recovering") == 0


async def test_unacked_completion_is_resent_after_reconnect(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url)).start()
    await hub.expect("identify")
    await hub.send(task_assign(generation=6))
    first = await hub.expect("task_complete")

    await hub.drop()  # as when the hub restarts before answering
    await hub.expect("identify")
    again = await hub.expect("task_complete")
    await hub.send({"type": "task_ack", "task_id": TASK, "status": "complete"})
    await sidecar.wait_for(lambda: sidecar.queue()["pending_reports"] == [], "ack")

    assert again == first
    assert again["generation"] == 6


async def test_refused_report_is_not_resent(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url)).start()
    await hub.expect("identify")
    await hub.send(task_assign())
    await hub.expect("task_complete")

    error = "task_complete_failed: stale_generation"
    await hub.send({"type": "error", "error": error, "task_id": TASK})

    await sidecar.wait_for(lambda: sidecar.queue()["pending_reports"] == [], "refusal settles")


async def test_unacked_report_survives_a_sidecar_restart(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url)).start()
    await hub.expect("identify")
    await hub.send(task_assign(generation=2))
    await hub.expect("task_complete")
    assert await sidecar.stop() == 0

    sidecar.start()
    await hub.expect("identify")
    resent = await hub.expect("task_complete")

    assert resent["generation"] == 2
    assert json.loads((sidecar.dir / "queue.json").read_text())["active"] is None


async def test_corrupt_queue_file_starts_empty(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url))
    (sidecar.dir / "queue.json").write_text('{"active": {"task_id": ')

    sidecar.start()
    await hub.expect("identify")
    await hub.send(task_assign())
    accepted = await hub.expect("task_accepted")

    assert accepted["task_id"] == TASK
    assert hub.count("task_recovering") == 0


# Fails until the test creates `ready`, then confirms at once; every run is counted.
WAKE_WHEN_READY = (
    'echo "$AGENTCOM_TASK_ID" >> wakes.txt; test -e ready || exit 3; '
    ': > "$AGENTCOM_RESULTS_DIR/$AGENTCOM_TASK_ID.started"'
)


def wakes(sidecar) -> int:
    counter = sidecar.dir / "wakes.txt"
    return len(counter.read_text().splitlines()) if counter.exists() else 0


async def continue_after_restart(hub, sidecar, generation: int = 2) -> dict:
    """Restart the sidecar, answer its task_recovering with task_continue; return the report."""
    sidecar.start()
    await hub.expect("identify")
    recovering = await hub.expect("task_recovering")
    await hub.send({"type": "task_continue", "task_id": TASK, "generation": generation})
    return recovering


async def test_task_killed_between_wake_attempts_is_woken_again_after_continue(hub, make_sidecar):
    config = fast_config(hub.url, wake_command=WAKE_WHEN_READY, wake_retry_delays_ms=[50, 60_000])
    sidecar = make_sidecar(config).start()
    await hub.expect("identify")
    await hub.send(task_assign(generation=1))
    await hub.expect("wake_result")
    second = await hub.expect("wake_result")  # then a 60 s pause before the third
    sidecar.kill()
    (sidecar.dir / "ready").touch()

    recovering = await continue_after_restart(hub, sidecar)
    third = await hub.expect("wake_result")
    await sidecar.wait_for_status("working")
    write_result(sidecar.results_dir, TASK, {"status": "success"})
    complete = await hub.expect("task_complete")

    assert second["attempt"] == 2 and second["status"] == "failed"
    assert recovering["last_status"] == "waking"
    assert (third["attempt"], third["status"]) == (3, "success")
    assert wakes(sidecar) == 3
    assert complete["generation"] == 2


async def test_task_killed_in_its_last_wake_attempt_fails_after_continue(hub, make_sidecar):
    wake = (
        'echo x >> wakes.txt; test "$(wc -l < wakes.txt)" -lt 3 || '
        "{ echo $$ > wake.pid; exec sleep 5; }; exit 3"
    )
    config = fast_config(hub.url, wake_command=wake, wake_retry_delays_ms=[50, 50])
    sidecar = make_sidecar(config).start()
    await hub.expect("identify")
    await hub.send(task_assign(generation=1))
    await sidecar.wait_for(lambda: wakes(sidecar) == 3, "the last wake attempt")
    sidecar.kill()

    await continue_after_restart(hub, sidecar)
    failed = await hub.expect("task_failed")

    assert failed["reason"] == "wake_failed_after_2_attempts"
    assert failed["generation"] == 2
    assert wakes(sidecar) == 3
    assert hub.count("wake_result") == 2  # the third attempt's outcome died with the sidecar
    assert sidecar.queue()["active"] is None
    kill_group(int((sidecar.dir / "wake.pid").read_text()))  # it outlived the killed sidecar


async def test_task_awaiting_confirmation_is_woken_again_after_a_restart(hub, make_sidecar):
    wake = 'echo "$AGENTCOM_TASK_ID" >> wakes.txt; test -e ready || exit 0; ' + (
        ': > "$AGENTCOM_RESULTS_DIR/$AGENTCOM_TASK_ID.started"'
    )
    config = fast_config(hub.url, wake_command=wake, confirmation_timeout_ms=30_000)
    sidecar = make_sidecar(config).start()
    await hub.expect("identify")
    await hub.send(task_assign(generation=1))
    await sidecar.wait_for_status("waking_confirmation")
    assert await sidecar.stop() == 0
    (sidecar.dir / "ready").touch()

    recovering = await continue_after_restart(hub, sidecar)
    await sidecar.wait_for_status("working")

    assert recovering["last_status"] == "waking_confirmation"
    assert [r["attempt"] for r in hub.received if r["type"] == "wake_result"] == [1, 2]
    assert wakes(sidecar) == 2


async def test_task_confirmed_while_the_sidecar_was_down_is_not_woken_again(hub, make_sidecar):
    config = fast_config(hub.url, wake_command="true", confirmation_timeout_ms=30_000)
    sidecar = make_sidecar(config).start()
    await hub.expect("identify")
    await hub.send(task_assign(generation=1))
    await sidecar.wait_for_status("waking_confirmation")
    assert await sidecar.stop() == 0
    (sidecar.results_dir / f"{TASK}.started").touch()  # the agent started meanwhile

    await continue_after_restart(hub, sidecar)
    await sidecar.wait_for_status("working")

    assert hub.count("wake_result") == 1
