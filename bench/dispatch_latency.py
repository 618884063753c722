"""Scenario 1: dispatch latency, one task at a time, against the floor.

    python bench/dispatch_latency.py --mode embedded --server daphne [--tasks 2000] [--agents 50]

50 idle agents are connected (one load-generator process); tasks are submitted one at
a time with `POST /api/tasks` on a keep-alive connection; the latency is from writing
the POST to the agent receiving `task_assign`. The agent accepts and completes at once,
and the next task is sent once the completion is acknowledged, so every dispatch meets
an idle hub and a full set of idle agents.

The floor, measured in the same run on the same server: `GET /health` round trip,
`ping`->`pong` on `/ws`, and one single-row INSERT+COMMIT on the hub's database from
the bench process. floor = p50(http) + p50(ws) + p50(commit): one request in, one frame
out, one commit, the least a dispatch could cost. Latency / floor uses p50s.

`--defences off` runs the hub with its input gate, rate limits, revocation checks and
metrics switched off (`bench/defences_off.py`); the result is reported as
`<server>+defences-off`, beside the run with them on.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from bench.harness import Backend, HttpConn, now_ns, summary_ms, verdict
from bench.loadgen import Fleet, specs

TARGETS = {
    "embedded": {"p50_ms": 5.0, "p99_ms": 15.0, "floor_ratio": 2.5},  # round 2 (was 3x)
    "scaled": {"p99_ms": 25.0},
}


async def sequential_dispatch(
    hubs,
    fleet: Fleet,
    token: str,
    n: int,
    *,
    timeout: float = 10,
    give_up_after: int = 3,
    label: str = "bench",
    max_seconds: float | None = None,
) -> dict:
    """Submit n tasks one at a time (round-robin over the ASGI processes); wait for each
    to be assigned and completed; stop early after `max_seconds`. Returns latency samples
    (ns) and counts."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds if max_seconds else None
    conns = [HttpConn(p.port, token) for p in hubs.asgi]
    assign_at: dict[str, int] = {}
    done_at: dict[str, int] = {}
    waiters: dict[str, asyncio.Future] = {}

    def on_event(event: tuple) -> None:
        kind, task_id, at = event
        if kind == "assign":
            assign_at[task_id] = at
        else:
            done_at[task_id] = at
            fut = waiters.pop(task_id, None)
            if fut is not None and not fut.done():
                fut.set_result(None)

    fleet.on_event = on_event
    latency, submit_rtt, lost, misses_in_row = [], [], 0, 0
    try:
        for i in range(n):
            if deadline is not None and loop.time() > deadline:
                break
            conn = conns[i % len(conns)]
            status, body = await conn.request(
                "POST", "/api/tasks", {"description": f"{label} task {i}"}
            )
            sent = conn.sent_at
            submit_rtt.append(now_ns() - sent)
            if status != 201:
                raise RuntimeError(f"POST /api/tasks -> {status}: {body}")
            task_id = body["task_id"]
            if task_id not in done_at:
                fut = loop.create_future()
                waiters[task_id] = fut
                try:
                    await asyncio.wait_for(fut, timeout)
                except TimeoutError:
                    waiters.pop(task_id, None)
                    lost += 1
                    misses_in_row += 1
                    if misses_in_row >= give_up_after:
                        break
                    continue
            misses_in_row = 0
            latency.append(assign_at[task_id] - sent)
    finally:
        for conn in conns:
            await conn.close()
        fleet.on_event = None
    return {
        "latency_ns": latency,
        "submit_rtt_ns": submit_rtt,
        "lost": lost,
        "submitted": len(submit_rtt),
    }


async def measure_floors(backend: Backend, hubs, samples: int) -> dict:
    proc = hubs.asgi[0]
    http = await harness.http_floor_ns(proc.port, samples)
    ws = await harness.ws_echo_floor_ns(proc.ws_url, samples)
    commit = await asyncio.to_thread(backend.commit_floor_ns, samples)
    floors = {
        "http_health": summary_ms(http),
        "ws_ping_pong": summary_ms(ws),
        "db_commit": summary_ms(commit),
    }
    floors["total_p50_ms"] = round(sum(f["p50"] for f in floors.values()), 3)
    return floors


async def run(args) -> int:
    backend = Backend(args.mode, label="dispatch")
    try:
        tokens = backend.create_agents([(f"agent-{i:05d}", []) for i in range(args.agents)])
        op = backend.operator_token()
        with harness.hubset(args, backend) as hubs:
            fleet = Fleet(
                specs(tokens, [p.ws_url for p in hubs.asgi]),
                processes=1,
                behaviour="complete",
                stream=True,
                ping_interval=30,
            )
            async with fleet:
                if fleet.identified != args.agents:
                    raise RuntimeError(
                        f"only {fleet.identified} agents identified: {fleet.failures}"
                    )
                warm = await sequential_dispatch(hubs, fleet, op, args.warmup, label="warmup")
                infeasible = None
                if not warm["latency_ns"]:
                    infeasible = (
                        f"no task_assign within 10 s for {warm['lost']} tasks: "
                        "no scheduler reaches this hub's sockets"
                    )
                floors = await measure_floors(backend, hubs, args.floor_samples)
                cpu0 = hubs.cpu()
                profiler = None
                if args.profile:
                    profiler = harness.Profiler(
                        hubs.pids, f"dispatch-{args.mode}-{args.server}"
                    ).start()
                result = {"latency_ns": [], "submit_rtt_ns": [], "lost": 0, "submitted": 0}
                if infeasible is None:
                    result = await sequential_dispatch(hubs, fleet, op, args.tasks)
                cpu = harness.cpu_delta(cpu0, hubs.cpu())
                costs = None
                if profiler is not None:
                    costs = harness.top_costs(profiler.stop())
                hubs.check_alive()
                await fleet.stop()
    finally:
        backend.drop()

    lat = summary_ms(result["latency_ns"])
    figures = {
        "dispatch_latency_ms": lat,
        "submit_response_ms": summary_ms(result["submit_rtt_ns"]),
        "lost": result["lost"],
        "floor": floors,
        "latency_over_floor_p50": round(lat["p50"] / floors["total_p50_ms"], 2)
        if lat["n"]
        else None,
        "hub_cpu_ms_per_dispatch": round(1000 * cpu / max(1, result["submitted"]), 3),
        "agents": args.agents,
        "defences": args.defences,
    }
    if infeasible:
        figures["infeasible"] = infeasible
    targets = TARGETS[args.mode]
    verdicts = []
    if "p50_ms" in targets:
        verdicts.append(verdict("dispatch p50", lat.get("p50"), "<=", targets["p50_ms"], "ms"))
    verdicts.append(verdict("dispatch p99", lat.get("p99"), "<=", targets["p99_ms"], "ms"))
    if "floor_ratio" in targets:
        verdicts.append(
            verdict(
                "dispatch p50 / floor",
                figures["latency_over_floor_p50"],
                "<=",
                targets["floor_ratio"],
                "x",
            )
        )
    extra = {"profile": costs} if costs else {}
    path = harness.write_result(
        "dispatch_latency",
        args.mode,
        args.server,
        harness.params_of(args),
        figures,
        verdicts,
        {**extra, "profiled": bool(costs)},
    )
    if costs:
        harness.print_profile(costs)
    server = harness.server_label(args.mode, args.server, harness.params_of(args))
    harness.print_figures("dispatch_latency", args.mode, server, figures, verdicts, path)
    return 0


def main() -> None:
    harness.ensure_venv()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    harness.add_common_args(parser)
    harness.add_defences_arg(parser)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--floor-samples", type=int, default=500)
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.floor_samples, args.warmup = min(args.tasks, 200), 100, 20
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
