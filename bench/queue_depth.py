"""Scenario 4: time per scheduling decision against queue depth (extends scheduler_pass.py).

    python bench/queue_depth.py --mode embedded [--depths 0,10000,100000] [--agents 1000]

In this process, against a fresh database (SQLite, or a fresh Postgres database in
scaled mode), with 1 000 connected agents of varied capabilities: queues of 0, 10 000
and 100 000 tasks with varied capabilities and priorities. A *decision* is what happens
when one agent becomes idle while one new task arrives: `schedule_pass()` picks the
best task that agent can take and claims it. It is timed `--decisions` times per depth
(a different agent each time). Also per depth: the pass's query for the distinct queued
capability keys, alone, and a bulk pass where all 1 000 agents are idle (ms per claim).
The target: the decision time at 100 000 within 1.3x of that at 0.

The server (daphne/uvicorn) plays no part here: the pass is called directly.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from bench.harness import Backend, summary_ms, verdict

AGENT_CAPS = [
    ["code", "python"],
    ["code", "js"],
    ["rust"],
    ["code", "go", "python"],
    ["code", "python", "js"],
    ["docs"],
    [],
]
TASK_CAPS = [
    [],
    ["code"],
    ["code", "python"],
    ["js"],
    ["rust"],
    ["code", "go"],
    ["cobol"],
    ["docs", "code"],
    ["python"],
    ["code", "js"],
]
TARGET_RATIO = 1.3


def setup_django(backend: Backend) -> None:
    for key, value in backend.env.items():
        if value:
            os.environ[key] = value
        else:
            os.environ.pop(key, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentcom_site.settings")
    import django

    django.setup()


def make_agents(n: int) -> list[int]:
    from agentcom_site.core.clock import now
    from agents.models import Agent, AgentState

    moment = now()
    Agent.objects.bulk_create(
        [
            Agent(
                agent_id=f"bench-{i:05d}",
                state=AgentState.ASSIGNED,
                channel_name=f"bench.{i}",
                capabilities=AGENT_CAPS[i % len(AGENT_CAPS)],
                idle_since=None,
                connected_at=moment,
                last_seen=moment,
            )
            for i in range(n)
        ],
        batch_size=1000,
    )
    return list(Agent.objects.order_by("pk").values_list("pk", flat=True))


def queued_count() -> int:
    from tasks.models import Task

    return Task.objects.filter(status="queued").count()


def fill(depth: int, rng: random.Random) -> None:
    """Add queued tasks until `depth` are queued: varied capabilities, priorities, ages."""
    from agentcom_site.core.clock import now
    from tasks.models import Task, capability_key

    missing = depth - queued_count()
    base = now() - timedelta(hours=1)
    batch = []
    for i in range(max(0, missing)):
        caps = TASK_CAPS[rng.randrange(len(TASK_CAPS))]
        batch.append(
            Task(
                description=f"queued {i}",
                title=f"queued {i}",
                submitted_by="bench",
                priority=rng.randrange(4),
                needed_capabilities=caps,
                capability_key=capability_key(caps),
                created_at=base + timedelta(microseconds=37 * i),
            )
        )
        if len(batch) == 5000:
            Task.objects.bulk_create(batch)
            batch = []
    if batch:
        Task.objects.bulk_create(batch)


def decisions(agent_pks: list[int], count: int, offset: int) -> list[int]:
    """Free one agent and submit one task, then time the pass that matches them."""
    from agentcom_site.core.clock import now
    from agents.models import Agent
    from tasks import queue
    from tasks.scheduler import schedule_pass

    samples = []
    for d in range(count):
        pk = agent_pks[(offset + d * 7) % len(agent_pks)]
        queue.submit_task(description=f"arrival {d}", submitted_by="bench")
        Agent.objects.filter(pk=pk).update(state="idle", idle_since=now())
        start = time.perf_counter_ns()
        assigned = schedule_pass()
        samples.append(time.perf_counter_ns() - start)
        if assigned != 1:
            raise RuntimeError(f"pass assigned {assigned}, expected 1")
    return samples


def distinct_keys_ns(reps: int = 5) -> list[int]:
    from tasks.selectors import queued_capability_keys

    samples = []
    for _ in range(reps):
        start = time.perf_counter_ns()
        queued_capability_keys()
        samples.append(time.perf_counter_ns() - start)
    return samples


def bulk_pass() -> tuple[int, float]:
    from agentcom_site.core.clock import now
    from agents.models import Agent
    from tasks.scheduler import schedule_pass

    Agent.objects.exclude(state="idle").update(state="idle", idle_since=now())
    start = time.perf_counter()
    assigned = schedule_pass()
    elapsed = (time.perf_counter() - start) * 1000
    Agent.objects.update(state="assigned", idle_since=None)
    return assigned, elapsed


def run(args) -> int:
    backend = Backend(args.mode, label="queue")
    try:
        setup_django(backend)
        from django.db import connection

        rng = random.Random(7)
        agent_pks = make_agents(args.agents)
        rows = {}
        for depth in args.depths:
            started = time.perf_counter()
            fill(depth, rng)
            fill_s = time.perf_counter() - started
            decisions(agent_pks, 5, 1)  # warm caches and statistics
            samples = decisions(agent_pks, args.decisions, depth)
            queued = queued_count()
            keys = distinct_keys_ns()
            assigned, bulk_ms = bulk_pass()
            rows[str(depth)] = {
                "queued": queued,
                "fill_s": round(fill_s, 1),
                "decision_ms": summary_ms(samples),
                "distinct_keys_query_ms": summary_ms(keys),
                "bulk_pass_assigned": assigned,
                "bulk_pass_ms": round(bulk_ms, 1),
                "bulk_ms_per_claim": round(bulk_ms / assigned, 3) if assigned else None,
            }
            print(
                f"  depth {depth}: decision {rows[str(depth)]['decision_ms']}, "
                f"distinct keys {rows[str(depth)]['distinct_keys_query_ms']['p50']} ms, "
                f"bulk {assigned} in {bulk_ms:.0f} ms",
                flush=True,
            )
        vendor = connection.vendor
        connection.close()
    finally:
        backend.drop()
    low, high = str(min(args.depths)), str(max(args.depths))
    ratio = rows[high]["decision_ms"]["p50"] / rows[low]["decision_ms"]["p50"]
    figures = {
        "database": vendor,
        "agents": args.agents,
        "depths": rows,
        f"decision_p50_ratio_{high}_vs_{low}": round(ratio, 2),
    }
    verdicts = [verdict(f"decision p50 at {high} / at {low}", ratio, "<=", TARGET_RATIO, "x")]
    path = harness.write_result(
        "queue_depth", args.mode, "none", harness.params_of(args), figures, verdicts
    )
    harness.print_figures("queue_depth", args.mode, "none", figures, verdicts, path)
    return 0


def main() -> None:
    harness.ensure_venv()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=harness.MODES, default="embedded")
    parser.add_argument("--server", default="none", help="ignored: no server is involved")
    parser.add_argument(
        "--depths", type=lambda s: [int(x) for x in s.split(",")], default=[0, 10_000, 100_000]
    )
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.depths, args.decisions = [0, 2000, 10_000], 50
    sys.exit(run(args))


if __name__ == "__main__":
    main()
