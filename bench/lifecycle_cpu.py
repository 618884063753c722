"""Hub CPU per task lifecycle, in this process, without servers or sockets.

    python bench/lifecycle_cpu.py [--tasks 2000] [--agents 50] [--batch 100] [--profile]

Against a fresh SQLite database (or a fresh Postgres database with `--mode scaled`),
with an outbox on an event loop in a second thread as in a hub process: the task
operations a lifecycle runs (submit, the claim the submit's announcement makes, accept,
complete, and the next claim the freed agent makes) are called as the HTTP view and the
agent consumer call them, and every listener of the hub (scheduler, socket pushes,
dashboard feed, metrics) runs after each commit. `--batch N` submits N tasks per
transaction (`submit_tasks`, as `POST /api/tasks/batch`); `--batch 1` one at a time.
Figure: process CPU (both threads) ÷ lifecycles. It leaves out what the servers add
(HTTP parsing, WebSocket frames, the input gate, bearer auth), which `throughput.py` and
`dispatch_latency.py` measure with the hub in its own process; it is far less sensitive
to other load on the machine, so it is the figure to iterate on. `--profile` prints
the cProfile of the measured phase (cumulative, then self). `--defences off` switches
off what of the hub's defences these operations reach (`bench/defences_off.py`: here the
metrics and the re-check of stored JSON on reads; the gate, rate limits and token checks
sit in the servers' path) and is reported as `none+defences-off`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import threading
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from bench.harness import Backend
from bench.queue_depth import setup_django


def start_outbox() -> asyncio.AbstractEventLoop:
    """An event loop in a thread with the process's outbox, as the hub has."""
    from agentcom_site.core import transport

    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(lambda: (transport.attach_outbox(), ready.set()))
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait()
    return loop


def make_agents(n: int) -> dict[str, object]:
    from agentcom_site.core.clock import now
    from agents.models import Agent, AgentState

    moment = now()
    Agent.objects.bulk_create(
        [
            Agent(
                agent_id=f"life-{i:04d}",
                state=AgentState.IDLE,
                channel_name=f"life.{i}",
                idle_since=moment,
                connected_at=moment,
                last_seen=moment,
            )
            for i in range(n)
        ]
    )
    return {agent.agent_id: agent for agent in Agent.objects.all()}


def run_lifecycles(agents: dict, tasks: int, batch: int) -> int:
    """Submit `tasks` in batches and drive every assignment to completion."""
    from agentcom_site.core.events import EventKind, subscribe, unsubscribe
    from tasks import queue

    assigned: deque = deque()

    def on_assigned(event) -> None:
        if event.kind == EventKind.TASK_ASSIGNED:
            assigned.append((event.task_id, event.agent_id, event.data["frame"]["generation"]))

    subscribe(on_assigned)
    done = 0
    submitted = 0
    try:
        while done < tasks:
            if submitted < tasks and len(assigned) < len(agents):
                n = min(batch, tasks - submitted)
                items = [{"description": f"lifecycle {submitted + i}"} for i in range(n)]
                if n == 1:
                    queue.submit_task(submitted_by="bench", **items[0])
                else:
                    queue.submit_tasks(items, submitted_by="bench")
                submitted += n
            while assigned:
                task_id, agent_id, generation = assigned.popleft()
                agent = agents[agent_id]
                queue.accept_task(task_id, agent, generation)
                queue.complete_task(task_id, agent, generation, result={"ok": True})
                done += 1
            if submitted >= tasks and not assigned and done < tasks:
                raise RuntimeError(f"stalled: {done} of {tasks} completed")
    finally:
        unsubscribe(on_assigned)
    return done


def run(args) -> int:
    backend = Backend(args.mode, label="life")
    try:
        setup_django(backend)
        from django.db import connection

        if args.defences == "off":
            from bench import defences_off

            defences_off.apply()

        start_outbox()
        agents = make_agents(args.agents)
        run_lifecycles(agents, min(200, args.tasks), args.batch)  # warm caches
        profiler = cProfile.Profile() if args.profile else None
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        done = run_lifecycles(agents, args.tasks, args.batch)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        vendor = connection.vendor
        connection.close()
    finally:
        backend.drop()
    figures = {
        "database": vendor,
        "agents": args.agents,
        "batch": args.batch,
        "defences": args.defences,
        "lifecycles": done,
        "cpu_ms_per_lifecycle": round(cpu * 1000 / done, 3),
        "wall_ms_per_lifecycle": round(wall * 1000 / done, 3),
    }
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
        print(out.getvalue())
    path = harness.write_result(
        "lifecycle_cpu", args.mode, "none", harness.params_of(args), figures, []
    )
    server = harness.server_label(args.mode, "none", harness.params_of(args))
    harness.print_figures("lifecycle_cpu", args.mode, server, figures, [], path)
    return 0


def main() -> None:
    harness.ensure_venv()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=harness.MODES, default="embedded")
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--profile", action="store_true")
    harness.add_defences_arg(parser)
    args = parser.parse_args()
    sys.exit(run(args))


if __name__ == "__main__":
    main()
