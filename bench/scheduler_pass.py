"""Time one scheduling pass against a deep queue (not a test: prints figures).

    python bench/scheduler_pass.py [--queued 10000] [--agents 100]

Builds a fresh database (SQLite in a temp dir, or DATABASE_URL), fills it with queued
tasks of varied capabilities and idle connected agents, and times `schedule_pass`:
the pass that assigns one task per agent, and a pass where no idle agent fits anything.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("AGENTCOM_DATA_DIR", tempfile.mkdtemp(prefix="agentcom-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentcom_site.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from agentcom_site.core.clock import now
    from agents.models import Agent, AgentState
    from tasks.models import Task, TaskEvent
    from tasks.scheduler import schedule_pass

    TaskEvent.objects.all().delete()
    Task.objects.all().delete()
    Agent.objects.all().delete()
    capability_sets = [[], ["code"], ["code", "python"], ["js"], ["rust"], ["code", "go"]]
    tasks = [
        Task(
            description=f"task {i}",
            title=f"task {i}",
            submitted_by="bench",
            priority=i % 4,
            needed_capabilities=capability_sets[i % len(capability_sets)],
        )
        for i in range(args.queued)
    ]
    for task in tasks:
        task.capability_key = "\x1f".join(sorted(task.needed_capabilities))
    Task.objects.bulk_create(tasks, batch_size=2000)
    moment = now()
    Agent.objects.bulk_create(
        [
            Agent(
                agent_id=f"bench-{i}",
                state=AgentState.IDLE,
                channel_name=f"bench.{i}",
                capabilities=["code", "python", "js"],
                idle_since=moment,
            )
            for i in range(args.agents)
        ],
        batch_size=1000,
    )
    started = time.perf_counter()
    assigned = schedule_pass()
    full_ms = (time.perf_counter() - started) * 1000
    # Now every agent is busy; make one idle agent that fits nothing in the queue.
    Agent.objects.create(
        agent_id="misfit",
        state=AgentState.IDLE,
        channel_name="bench.misfit",
        capabilities=["cobol"],
        idle_since=moment,
    )
    Task.objects.filter(needed_capabilities=[]).delete()  # only capability-bound tasks remain
    started = time.perf_counter()
    none = schedule_pass()
    empty_ms = (time.perf_counter() - started) * 1000
    print(f"backend: {connection.vendor}")
    print(f"queued={args.queued} idle_agents={args.agents}")
    print(
        f"pass assigning {assigned} tasks: {full_ms:.1f} ms"
        f" ({full_ms / max(assigned, 1):.2f} ms per claim)"
    )
    print(f"pass with no fitting task (assigned {none}): {empty_ms:.2f} ms")


if __name__ == "__main__":
    main()
