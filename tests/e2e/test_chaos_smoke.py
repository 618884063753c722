"""A short smoke of bench/chaos.py: one real run, and the checks it judges runs by."""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.chaos_checks import Event, check_executions, judge

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_one_chaos_run_ends_with_every_task_final_and_a_clean_verdict():
    runner = [sys.executable, str(ROOT / "bench" / "chaos.py"), "--mode", "embedded"]
    # A session of its own: on a timeout the runner's hubs and sidecars go with it.
    done = subprocess.Popen(
        [*runner, "--runs", "1", "--seed", "12", "--tasks", "6", "--kinds", "quick,steady,flaky"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        stdout, stderr = done.communicate(timeout=90)
    finally:
        if done.poll() is None:
            os.killpg(done.pid, signal.SIGKILL)
    assert done.returncode == 0, stdout[-3000:] + stderr[-3000:]
    path = re.search(r"results: (\S+)", stdout).group(1)
    summary = json.loads(Path(path).read_text())["summary"]
    assert summary["runs"] == 1 and summary["tasks"] == 6
    assert summary["lost"] == 0 and summary["completed_twice"] == 0
    assert sum(summary["faults_by_kind"].values()) >= 2


def history(*rows: tuple) -> list[Event]:
    """(task, event, agent, reason, generation) rows in commit order."""
    seqs: dict[str, int] = {}
    events = []
    for index, (task_id, event, agent_id, reason, generation) in enumerate(rows):
        seqs[task_id] = seqs.get(task_id, 0) + 1
        events.append(Event(index, task_id, seqs[task_id], event, agent_id, reason, generation))
    return events


def test_the_verdict_names_a_double_completion_a_double_booking_and_a_falling_generation():
    events = history(
        ("t1", "assigned", "a", "", 1),
        ("t2", "assigned", "a", "", 1),  # a holds t1 and t2 at once
        ("t1", "completed", "a", "", 1),
        ("t1", "completed", "a", "", 1),  # t1 completed twice
        ("t2", "reclaimed", "a", "stuck", 0),  # the generation went down
    )
    verdict = judge({"t1": "completed", "t2": "queued"}, events, {}, [], {}, {}, {"a", "b"}, {"a"})
    text = "\n".join(verdict.violations)
    assert "t1 completed 2 times" in text
    assert "a got t2 while holding t1" in text
    assert "t2: reclaimed at generation 0" in text
    assert "t2 ended queued" in text
    assert "b is online at the hub with no open socket" in text


def test_a_second_run_after_a_reclaim_is_explained_and_one_after_nothing_is_not():
    events = history(
        ("t1", "assigned", "a", "", 1),
        ("t1", "reclaimed", "a", "agent_disconnect", 2),
        ("t1", "assigned", "b", "", 3),
        ("t1", "completed", "b", "", 3),
    )
    cut = [{"kind": "cut_past_grace", "target": "a"}]
    explained = check_executions(events, {"a": [("t1", 1)], "b": [("t1", 3)]}, cut)
    assert explained.violations == [] and explained.figures["double_explained"] == 1
    unexplained = check_executions(events, {"a": [("t1", 1)], "b": [("t1", 3)]}, [])
    assert unexplained.figures["double_explained"] == 0
    assert "after reclaimed (agent_disconnect)" in unexplained.violations[0]


def test_a_rewake_under_one_generation_is_explained_only_by_a_kill_of_that_agent():
    events = history(("t1", "assigned", "a", "", 1), ("t1", "completed", "a", "", 1))
    runs = {"a": [("t1", 1), ("t1", 1)]}
    killed = [{"kind": "agent_kill", "target": "a"}]
    explained = check_executions(events, runs, killed)
    assert explained.violations == []
    assert explained.figures["double_reasons"] == {"rewoken after its agent was killed": 1}
    elsewhere = check_executions(events, runs, [{"kind": "agent_kill", "target": "b"}])
    assert elsewhere.violations == ["t1 generation 1 ran on a and a"]
