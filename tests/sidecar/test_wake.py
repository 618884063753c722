"""Wake retries, the confirmation timeout, failures before the wake and self-waking agents."""

from __future__ import annotations

from tests.sidecar.harness import SELF_WAKE, fast_config, task_assign, write_result

TASK = "task-00000000000000a1"


async def test_failing_wake_is_retried_then_the_task_fails(hub, make_sidecar):
    wake = "echo attempt >> attempts.txt; echo boom >&2; exit 3"
    sidecar = make_sidecar(fast_config(hub.url, wake_command=wake)).start()
    await hub.expect("identify")

    await hub.send(task_assign(generation=5))
    results = [await hub.expect("wake_result") for _ in range(4)]
    failed = await hub.expect("task_failed")

    assert [r["attempt"] for r in results] == [1, 2, 3, 4]
    assert {r["status"] for r in results} == {"failed"}
    assert results[0]["error"] == "exit code 3: boom"
    assert failed["reason"] == "wake_failed_after_3_attempts"
    assert failed["generation"] == 5
    assert (sidecar.dir / "attempts.txt").read_text().count("attempt") == 4
    assert sidecar.queue()["active"] is None


async def test_wake_that_outlives_its_timeout_is_killed_and_reported(hub, make_sidecar):
    config = fast_config(hub.url, wake_command="sleep 5", wake_timeout_ms=200)
    config["wake_retry_delays_ms"] = []
    make_sidecar(config).start()
    await hub.expect("identify")

    await hub.send(task_assign())
    result = await hub.expect("wake_result")
    failed = await hub.expect("task_failed")

    assert result["status"] == "timeout"
    assert failed["reason"] == "wake_failed_after_0_attempts"


async def test_missing_started_file_fails_with_confirmation_timeout(hub, make_sidecar):
    config = fast_config(hub.url, wake_command="true", confirmation_timeout_ms=300)
    sidecar = make_sidecar(config).start()
    await hub.expect("identify")

    await hub.send(task_assign())
    success = await hub.expect("wake_result")
    timeout = await hub.expect("wake_result")
    failed = await hub.expect("task_failed")

    assert success["status"] == "success"
    assert timeout["status"] == "timeout"
    assert failed["reason"] == "confirmation_timeout"
    assert sidecar.queue()["active"] is None


async def test_background_agent_does_not_hold_up_the_wake(hub, make_sidecar):
    # The shell exits at once; its background child keeps the output file open for 5 s.
    wake = 'sleep 5 & touch "$AGENTCOM_RESULTS_DIR/$AGENTCOM_TASK_ID.started"'
    sidecar = make_sidecar(fast_config(hub.url, wake_command=wake)).start()
    await hub.expect("identify")

    await hub.send(task_assign())
    result = await hub.expect("wake_result", timeout=3)
    await sidecar.wait_for_status("working", timeout=3)

    assert result["status"] == "success"


async def test_a_self_waking_agent_gets_its_task_straight_to_working(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url, **SELF_WAKE)).start()
    await hub.expect("identify")

    await hub.send(task_assign())
    await sidecar.wait_for_status("working")
    write_result(sidecar.results_dir, "task-00000000000000a1", {"status": "success"})
    complete = await hub.expect("task_complete")

    assert complete["result"] == {"status": "success"}
    assert "tokens_used" not in complete
    assert hub.count("wake_result") == 0


async def test_repo_dir_removed_after_start_fails_the_task_naming_it(hub, make_sidecar, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    sidecar = make_sidecar(fast_config(hub.url, repo_dir="repo")).start()
    await hub.expect("identify")
    repo.rmdir()

    await hub.send(task_assign(generation=2))
    result = await hub.expect("wake_result")
    failed = await hub.expect("task_failed")

    reason = f"sidecar_error: repo_dir {repo} does not exist"
    assert result == {
        "type": "wake_result",
        "task_id": TASK,
        "status": "failed",
        "attempt": 1,
        "error": reason,
        "protocol_version": 1,
    }
    assert failed["reason"] == reason and failed["generation"] == 2
    assert sidecar.queue()["active"] is None
    assert not (sidecar.dir / "wakes.txt").exists()
    assert f'"task_id": "{TASK}", "attempt": 1, "error": "{reason}"' in sidecar.log_file.read_text()


async def test_wake_command_that_cannot_be_started_fails_the_task(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url))
    (sidecar.dir / "tasks" / f"{TASK}.wake.log").mkdir(parents=True)  # its output has nowhere to go
    sidecar.start()
    await hub.expect("identify")

    await hub.send(task_assign())
    result = await hub.expect("wake_result")
    failed = await hub.expect("task_failed")

    assert result["status"] == "failed" and result["attempt"] == 1
    assert result["error"].startswith("sidecar_error: cannot start the wake command: ")
    assert "Is a directory" in result["error"]
    assert failed["reason"] == result["error"]
    assert hub.count("wake_result") == 1  # not retried: a retry cannot help


async def test_unexpected_error_while_preparing_the_wake_fails_the_task(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url))
    (sidecar.dir / "tasks").write_text("a file where the task files should go")
    sidecar.start()
    await hub.expect("identify")

    await hub.send(task_assign())
    result = await hub.expect("wake_result")
    failed = await hub.expect("task_failed")

    assert result["status"] == "failed"
    assert failed["reason"] == result["error"]
    assert failed["reason"].startswith("sidecar_error: FileExistsError: ")
    assert str(sidecar.dir / "tasks") in failed["reason"]
    log = sidecar.log_file.read_text()
    assert '"event": "job_error"' not in log
    assert f'"event": "wake_crashed", "agent_id": "gcu-sleeper", "task_id": "{TASK}"' in log
