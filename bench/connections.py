"""Scenario 3: many connected agents: memory per connection, identify time, dispatch latency.

    python bench/connections.py --mode embedded --server daphne [--levels 1000,5000,10000]

For each level N, a fresh hub (one ASGI process by default: the target is per process)
and N agents spread over several load-generator processes (multiprocessing; each
raises its open-files limit, as the hub's wrapper does). Every agent connects,
identifies and then pings every `--ping-interval` seconds (random phase). Figures per
level: time from the first connect to the last `identified`; identify latency
percentiles; hub RSS (sum of ASGI processes) before and after, and the delta per
connection; then, with all N connected and pinging, dispatch latency of tasks sent one
at a time (as in dispatch_latency.py) and the /health and ping/pong round trips.
A level whose agents have not all identified within `--identify-timeout` is reported
with the number that made it.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from bench.dispatch_latency import sequential_dispatch
from bench.harness import Backend, summary_ms, verdict
from bench.loadgen import Fleet, specs

TARGET_KB_PER_CONN = 35.0  # round 2 (was 50)
TARGET_P99_MS = 25.0


async def settle(hubs, *, quiet_cores: float = 0.15, max_s: float = 30) -> float:
    """Wait until the hub is nearly idle (broadcasts drained); returns seconds waited."""
    start = time.monotonic()
    before = sum(hubs.cpu().values())
    while time.monotonic() - start < max_s:
        await asyncio.sleep(1.0)
        after = sum(hubs.cpu().values())
        if after - before < quiet_cores:
            break
        before = after
    return round(time.monotonic() - start, 1)


async def one_level(args, n: int) -> dict:
    backend = Backend(args.mode, label=f"conn{n}")
    try:
        tokens = backend.create_agents([(f"agent-{i:05d}", ["code"]) for i in range(n)])
        op = backend.operator_token()
        # Every client connects from 127.0.0.1, where a real fleet comes from many
        # addresses: the per-address cap on handshakes in flight must not refuse them.
        procs = args.client_procs or max(2, min(8, math.ceil(n / 1250)))
        in_flight = procs * args.connect_concurrency
        env = {"AGENTCOM_MAX_UNIDENTIFIED_PER_ADDRESS": str(max(64, in_flight))}
        with harness.hubset(args, backend, env) as hubs:
            # Warm the process (imports, first queries, one socket) before the baseline.
            await harness.http_floor_ns(hubs.asgi[0].port, 20)
            await harness.ws_echo_floor_ns(hubs.asgi[0].ws_url, 20)
            await asyncio.sleep(1)
            rss0 = hubs.rss()
            rss0_each = [harness.rss_bytes(p.pid) for p in hubs.asgi]
            fleet = Fleet(
                specs(tokens, [p.ws_url for p in hubs.asgi], ["code"]),
                processes=procs,
                behaviour="complete",
                stream=True,
                ping_interval=args.ping_interval,
                presence=args.presence,
                connect_concurrency=args.connect_concurrency,
                connect_timeout=args.identify_timeout,
            )
            cpu0 = hubs.cpu()
            profiler = None
            if args.profile:
                profiler = harness.Profiler(
                    hubs.pids, f"identify{n}-{args.mode}-{args.server}"
                ).start()
            async with fleet:
                costs = harness.top_costs(profiler.stop()) if profiler else None
                first, last, each = fleet.identify_span_ns()
                identified = fleet.identified
                cpu_identify = harness.cpu_delta(cpu0, hubs.cpu())
                settled = await settle(hubs)
                rss1 = hubs.rss()
                rss1_each = [harness.rss_bytes(p.pid) for p in hubs.asgi]
                fds = [harness.open_fds(p.pid) for p in hubs.asgi]
                http = await harness.http_floor_ns(hubs.asgi[0].port, args.floor_samples, 20)
                ws = await harness.ws_echo_floor_ns(hubs.asgi[0].ws_url, args.floor_samples, 20)
                result = await sequential_dispatch(
                    hubs, fleet, op, args.tasks, label=f"conn{n}", max_seconds=args.dispatch_seconds
                )
                hubs.check_alive()
                await fleet.stop()
    finally:
        backend.drop()
    lat = summary_ms(result["latency_ns"])
    if costs:
        harness.print_profile(costs)
    return {
        "profile_identify": costs,
        "agents": n,
        "client_procs": procs,
        "identified": identified,
        "identify_failures": len(fleet.failures),
        "identify_all_s": round((last - first) / 1e9, 2) if identified else None,
        "identify_ms": summary_ms(each),
        "hub_cpu_s_identify": round(cpu_identify, 2),
        "settle_s": settled,
        "rss_before_mb": round(rss0 / 2**20, 1),
        "rss_after_mb": round(rss1 / 2**20, 1),
        "rss_per_asgi_process_mb": [round(b / 2**20, 1) for b in rss1_each],
        "rss_delta_per_asgi_process_mb": [
            round((b - a) / 2**20, 1) for a, b in zip(rss0_each, rss1_each, strict=True)
        ],
        "kb_per_connection": round((rss1 - rss0) / 1024 / max(1, identified), 2),
        "hub_open_fds": fds,
        "dispatch_latency_ms": lat,
        "dispatch_lost": result["lost"],
        "http_health_ms": summary_ms(http),
        "ws_ping_pong_ms": summary_ms(ws),
    }


async def run(args) -> int:
    levels = []
    skipped = {}
    for n in args.levels:
        if levels and levels[-1]["identified"] < levels[-1]["agents"]:
            skipped[str(n)] = (
                f"not attempted: {levels[-1]['agents']} agents did not all "
                f"identify within {args.identify_timeout:.0f} s"
            )
            print(f"-- {n} agents: {skipped[str(n)]}", flush=True)
            continue
        print(f"-- {n} agents --", flush=True)
        level = await one_level(args, n)
        print(
            f"   identified {level['identified']} in {level['identify_all_s']} s, "
            f"{level['kb_per_connection']} KB/conn, dispatch {level['dispatch_latency_ms']}",
            flush=True,
        )
        levels.append(level)
    top = levels[-1]
    goal = max(args.levels)
    verdicts = [
        verdict(f"agents identified (of {goal})", top["identified"], ">=", goal),
        verdict(
            f"RSS per connection at {top['agents']}",
            top["kb_per_connection"],
            "<=",
            TARGET_KB_PER_CONN,
            "KB",
        ),
        verdict(
            f"dispatch p99 at {top['agents']}",
            top["dispatch_latency_ms"].get("p99"),
            "<=",
            TARGET_P99_MS,
            "ms",
        ),
    ]
    figures = {"levels": {str(level["agents"]): level for level in levels}, "skipped": skipped}
    path = harness.write_result(
        "connections", args.mode, args.server, harness.params_of(args), figures, verdicts
    )
    server = f"{args.server}+presence" if args.presence else args.server
    harness.print_figures("connections", args.mode, server, figures, verdicts, path)
    return 0


def main() -> None:
    harness.ensure_venv()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    harness.add_common_args(parser)
    parser.set_defaults(hubs=1)
    parser.add_argument(
        "--levels", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 5000, 10000]
    )
    parser.add_argument("--tasks", type=int, default=500, help="dispatches measured per level")
    parser.add_argument("--ping-interval", type=float, default=30)
    parser.add_argument("--client-procs", type=int, default=0, help="0: one per 1 250 agents (2-8)")
    parser.add_argument(
        "--connect-concurrency",
        type=int,
        default=50,
        help="handshakes in flight per client process",
    )
    parser.add_argument(
        "--presence",
        action="store_true",
        help="agents listen to presence pushes (as v1 clients do; N²/2 frames while identifying)",
    )
    parser.add_argument("--identify-timeout", type=float, default=100)
    parser.add_argument("--floor-samples", type=int, default=200)
    parser.add_argument(
        "--dispatch-seconds",
        type=float,
        default=45,
        help="stop measuring dispatches after this long (an overloaded hub)",
    )
    args = parser.parse_args()
    if args.quick:
        args.levels, args.tasks, args.floor_samples = [200, 1000], 100, 50
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
