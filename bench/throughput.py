"""Scenario 2: throughput of full task lifecycles, and latency/throughput against load.

    python bench/throughput.py --mode embedded --server daphne [--tasks 20000] [--agents 100]

Bulk phase: 100 agents (spread over load-generator processes) accept and complete
every task at once; 20 000 tasks are submitted as fast as `--concurrency` keep-alive
HTTP connections allow (round-robin over the ASGI processes), `--batch` tasks per
`POST /api/tasks/batch` (`--batch 1`: one `POST /api/tasks` per task). Figures: full lifecycles
(submitted -> completed) per second from the first POST to the last completion ack,
the submission rate, and hub CPU seconds per lifecycle (utime+stime from /proc/<pid>/stat
of every hub process: ASGI processes and scheduler workers). A run is capped at
`--max-seconds`; if the cap is hit the rate is over the lifecycles completed by then,
and the load curve is skipped (the backlog would be counted in it).

Load curve (`--curve`, on by default): open-loop submission at fixed rates for
`--step-seconds` each; per rate, the achieved lifecycles/s and the latency from the
POST to `task_assign` (p50/p95/p99): the data of docs/bench/throughput_vs_load.png.

`--defences off` runs the hub with its input gate, rate limits, revocation checks and
metrics switched off (`bench/defences_off.py`); the result is reported as
`<server>+defences-off`, beside the run with them on.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from bench.harness import Backend, HttpConn, now_ns, summary_ms, verdict
from bench.loadgen import Fleet, specs

TARGETS = {"embedded": 300.0, "best": 1000.0}
DEFAULT_RATES = [25, 50, 100, 200, 400, 800]


async def submit_bulk(
    hubs,
    token: str,
    n: int,
    concurrency: int,
    deadline: float,
    label: str = "bulk",
    batch: int = 1,
) -> tuple[int, int, int]:
    """Submit n tasks over `concurrency` connections; returns (submitted, first_ns, last_ns)."""
    ports = [p.port for p in hubs.asgi]
    counter = iter(range(0, n, batch))
    first = [0]
    submitted = [0]

    def request(start: int) -> tuple[str, dict]:
        tasks = [{"description": f"{label} {i}"} for i in range(start, min(n, start + batch))]
        if batch == 1:
            return "/api/tasks", tasks[0]
        return "/api/tasks/batch", {"tasks": tasks}

    async def pump(k: int) -> None:
        conn = HttpConn(ports[k % len(ports)], token)
        try:
            for start in counter:
                if time.monotonic() > deadline:
                    return
                path, body = request(start)
                status, reply = await conn.request("POST", path, body)
                if not first[0]:
                    first[0] = conn.sent_at
                if status != 201:
                    raise RuntimeError(f"POST -> {status}: {reply}")
                submitted[0] += min(batch, n - start)
        finally:
            await conn.close()

    start = now_ns()
    await asyncio.gather(*(pump(k) for k in range(concurrency)))
    return submitted[0], first[0] or start, now_ns()


async def wait_done(fleet: Fleet, target: int, deadline: float) -> int:
    while time.monotonic() < deadline:
        if fleet.totals()[1] >= target:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(2 * 0.1)  # one more progress report from every worker
    return fleet.totals()[1]


async def open_loop(
    hubs, fleet: Fleet, token: str, rate: float, seconds: float, connections: int, base_done: int
) -> dict:
    """Submit at `rate`/s for `seconds` (open loop); latency POST -> task_assign."""
    ports = [p.port for p in hubs.asgi]
    n = max(1, int(rate * seconds))
    sent: dict[str, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    late = [0]

    async def pump(k: int) -> None:
        conn = HttpConn(ports[k % len(ports)], token)
        try:
            while True:
                i = await queue.get()
                if i < 0:
                    return
                status, body = await conn.request(
                    "POST", "/api/tasks", {"description": f"curve {rate} {i}"}
                )
                if status == 201:
                    sent[body["task_id"]] = conn.sent_at
        finally:
            await conn.close()

    pumps = [asyncio.create_task(pump(k)) for k in range(connections)]
    start = time.monotonic()
    for i in range(n):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.05:
            late[0] += 1
        queue.put_nowait(i)
    for _ in pumps:
        queue.put_nowait(-1)
    await asyncio.gather(*pumps)
    submit_s = time.monotonic() - start
    done = await wait_done(fleet, base_done + len(sent), time.monotonic() + 60)
    assign, done_log = await fleet.collect()
    assigned_at = dict(assign)
    lat = [assigned_at[t] - s for t, s in sent.items() if t in assigned_at]
    finish = max((at for t, at in done_log if t in sent), default=now_ns())
    first = min(sent.values(), default=now_ns())
    return {
        "offered_per_s": rate,
        "submitted": len(sent),
        "submit_seconds": round(submit_s, 2),
        "completed": done - base_done,
        "lifecycles_per_s": round(len(lat) / max(1e-9, (finish - first) / 1e9), 1),
        "dispatch_ms": summary_ms(lat),
        "late_sends": late[0],
    }


async def run(args) -> int:
    backend = Backend(args.mode, label="throughput")
    curve = []
    costs = None
    try:
        tokens = backend.create_agents([(f"agent-{i:05d}", []) for i in range(args.agents)])
        op = backend.operator_token()
        with harness.hubset(args, backend) as hubs:
            fleet = Fleet(
                specs(tokens, [p.ws_url for p in hubs.asgi]),
                processes=args.client_procs,
                behaviour="complete",
                record=True,
            )
            async with fleet:
                if fleet.identified != args.agents:
                    raise RuntimeError(f"only {fleet.identified} identified: {fleet.failures}")
                # Warm-up: every agent does a few lifecycles.
                warm = args.agents * 2
                await submit_bulk(hubs, op, warm, args.concurrency, time.monotonic() + 60, "warm")
                await wait_done(fleet, warm, time.monotonic() + 60)
                await fleet.collect()
                base = fleet.totals()[1]

                cpu0 = hubs.cpu()
                pg0 = {
                    pid: harness.cpu_seconds(pid)
                    for pid in harness.pids_named("postgres", "redis-server")
                }
                profiler = None
                if args.profile:
                    profiler = harness.Profiler(
                        hubs.pids, f"throughput-{args.mode}-{args.server}"
                    ).start()
                deadline = time.monotonic() + args.max_seconds
                submitter = asyncio.create_task(
                    submit_bulk(hubs, op, args.tasks, args.concurrency, deadline, batch=args.batch)
                )
                submitted, first_ns, submit_end = await submitter
                done = await wait_done(fleet, base + submitted, deadline) - base
                last_done = fleet.totals()[2]
                cpu_by_pid = {pid: after - cpu0.get(pid, 0) for pid, after in hubs.cpu().items()}
                cpu = sum(cpu_by_pid.values())
                pg = sum(harness.cpu_seconds(pid) - before for pid, before in pg0.items())
                if profiler is not None:
                    costs = harness.top_costs(profiler.stop())
                await fleet.collect()  # drop the bulk phase's records
                base = fleet.totals()[1]
                # A capped bulk phase leaves a backlog that would be counted in the curve.
                if args.curve and not args.profile and done >= submitted:
                    for rate in args.rates:
                        step = await open_loop(
                            hubs, fleet, op, rate, args.step_seconds, args.concurrency, base
                        )
                        base += step["completed"]
                        curve.append(step)
                        print(
                            f"  curve: {step['offered_per_s']}/s offered -> "
                            f"{step['lifecycles_per_s']}/s, dispatch {step['dispatch_ms']}",
                            flush=True,
                        )
                        if (
                            step["completed"] < step["submitted"] * 0.98
                            or step["dispatch_ms"].get("p50", 0) > 2000
                        ):
                            break  # saturated: higher rates only pile up a backlog
                hubs.check_alive()
                results = await fleet.stop()
    finally:
        backend.drop()

    elapsed_s = max(1e-9, (last_done - first_ns) / 1e9)
    roles = {p.pid: p.role for p in hubs.procs}
    figures = {
        "tasks_submitted": submitted,
        "tasks_completed": done,
        "capped": done < args.tasks,
        "seconds": round(elapsed_s, 2),
        "lifecycles_per_s": round(done / elapsed_s, 1),
        "submit_per_s": round(submitted / max(1e-9, (submit_end - first_ns) / 1e9), 1),
        "hub_cpu_s_per_lifecycle": round(cpu / max(1, done), 5),
        "hub_cpu_s_by_role": {
            role: round(sum(v for pid, v in cpu_by_pid.items() if roles[pid] == role), 2)
            for role in sorted(set(roles.values()))
        },
        "hub_cpu_utilisation_cores": round(cpu / elapsed_s, 2),
        "db_and_redis_cpu_s_per_lifecycle": round(pg / max(1, done), 5)
        if args.mode == "scaled"
        else None,
        "client_cpu_s": round(sum(r["cpu_s"] for r in results if r), 2),
        "agents": args.agents,
        "defences": args.defences,
        "concurrency": args.concurrency,
    }
    if curve:
        figures["curve"] = curve
    verdicts = []
    if args.mode == "embedded":
        verdicts.append(
            verdict(
                "lifecycles/s (embedded)",
                figures["lifecycles_per_s"],
                ">=",
                TARGETS["embedded"],
                "/s",
            )
        )
    verdicts.append(
        verdict(
            "lifecycles/s (best mode)", figures["lifecycles_per_s"], ">=", TARGETS["best"], "/s"
        )
    )
    path = harness.write_result(
        "throughput",
        args.mode,
        args.server,
        harness.params_of(args),
        figures,
        verdicts,
        {"profile": costs, "profiled": bool(costs)},
    )
    if costs:
        harness.print_profile(costs)
    server = harness.server_label(args.mode, args.server, harness.params_of(args))
    harness.print_figures("throughput", args.mode, server, figures, verdicts, path)
    return 0


def main() -> None:
    harness.ensure_venv()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    harness.add_common_args(parser)
    harness.add_defences_arg(parser)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8, help="HTTP connections submitting")
    parser.add_argument(
        "--batch", type=int, default=100, help="tasks per POST in the bulk phase (1: /api/tasks)"
    )
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=400)
    parser.add_argument("--curve", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--rates", type=lambda s: [float(x) for x in s.split(",")], default=DEFAULT_RATES
    )
    parser.add_argument("--step-seconds", type=float, default=6)
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.max_seconds, args.step_seconds = min(args.tasks, 2000), 60, 4
        args.rates = args.rates[:4]
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
