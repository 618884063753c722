"""Soak: does the hub's memory grow under a steady stream of full task lifecycles?

    python bench/soak.py --mode embedded --server daphne [--minutes 30] [--rate 100] [--agents 50]

`--agents` instant agents (accept, then complete at once, as in throughput.py) in
`--client-procs` load-generator processes; tasks are offered open loop at `--rate` a
second for `--minutes`: one `POST /api/tasks` per task over `--concurrency` keep-alive
connections (`--batch N`: N tasks per `POST /api/tasks/batch`, rate / N posts a second).
A task whose due time comes while every connection is busy waits in the bench and is
counted as a late send (over 50 ms); what still waits when the time is up is never sent.

Every `--sample-seconds` (10) the RSS of the hub processes (`/proc/<pid>/statm`, summed
over every hub process; one in embedded mode), their CPU and the completions so far are
sampled. The *measured window* runs from the first sample after `--warmup-minutes` (3,
or a quarter of a run shorter than 12 minutes) to the end of the offer; over it: a
least-squares line through the RSS samples (the slope in KB/min and MB/hour, and the
growth it implies over the window), RSS at its start and end, lifecycles/s achieved
(over the window, and per minute: min and median), dispatch latency p50/p99 of the tasks
submitted in it (POST written → `task_assign` received), and hub CPU per lifecycle.

Verdicts. *No RSS growth*: PASS when the growth the fitted line implies over the window
(slope times its length) is at most max(1 MB, 2 % of the RSS at the window's start), a
noise allowance: SQLite's page cache (up to 2 MB a connection) and the allocator's 1 MiB
arenas fill up without any leak; a falling line passes. *Rate held*: PASS when the
lifecycles/s achieved over the window are at least 95 % of the offered rate.
`--defences off` switches the hub's defences off as in throughput.py.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness
from bench.harness import Backend, HttpConn, now_ns, summary_ms, verdict
from bench.loadgen import Fleet, specs

RATE_SHARE = 0.95
GROWTH_FLOOR_MB = 1.0
GROWTH_SHARE = 0.02
DRAIN_S = 30
LATE_S = 0.05  # a POST written this long after its due time is a late send


class Soak:
    """The open-loop offer, the agents' events, and the samples of one run."""

    def __init__(self, hubs, fleet: Fleet, token: str, args) -> None:
        self.hubs = hubs
        self.fleet = fleet
        self.token = token
        self.args = args
        self.started_ns = 0
        self.pending: dict[str, int] = {}  # task id -> POST written (ns), until assigned
        self.early: dict[str, int] = {}  # assigned before its POST was answered
        self.dispatches: list[tuple[int, int]] = []  # (POST written, latency), ns
        self.done_ns: list[int] = []
        self.submitted = 0
        self.late = 0
        self.unsent = 0
        self.max_backlog = 0
        self.samples: list[dict] = []

    # -- the agents' events -------------------------------------------------------------
    def on_event(self, event: tuple) -> None:
        kind, task_id, at = event
        if kind == "done":
            self.done_ns.append(at)
            return
        sent = self.pending.pop(task_id, None)
        if sent is None:
            self.early[task_id] = at
        else:
            self.dispatches.append((sent, at - sent))

    def _submitted(self, task_id: str, sent: int) -> None:
        assigned = self.early.pop(task_id, None)
        if assigned is None:
            self.pending[task_id] = sent
        else:
            self.dispatches.append((sent, assigned - sent))

    # -- the offer -------------------------------------------------------------------------
    async def _pump(self, port: int, queue: asyncio.Queue) -> None:
        conn = HttpConn(port, self.token)
        batch = self.args.batch
        try:
            while (item := await queue.get()) is not None:
                i, due = item
                if time.monotonic() - due > LATE_S:
                    self.late += batch
                if batch == 1:
                    path, body = "/api/tasks", {"description": f"soak {i}"}
                else:
                    tasks = [{"description": f"soak {i}.{k}"} for k in range(batch)]
                    path, body = "/api/tasks/batch", {"tasks": tasks}
                status, reply = await conn.request("POST", path, body)
                if status != 201:
                    raise RuntimeError(f"POST {path} -> {status}: {reply}")
                for task in reply["tasks"] if batch > 1 else [reply]:
                    self._submitted(task["task_id"], conn.sent_at)
                self.submitted += batch
        finally:
            await conn.close()

    async def offer(self, seconds: float) -> None:
        ports = [p.port for p in self.hubs.asgi]
        queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
        pumps = [
            asyncio.create_task(self._pump(ports[k % len(ports)], queue))
            for k in range(self.args.concurrency)
        ]
        posts_per_s = self.args.rate / self.args.batch
        start = time.monotonic()
        try:
            for i in range(int(posts_per_s * seconds)):
                due = start + i / posts_per_s
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
                queue.put_nowait((i, due))
                self.max_backlog = max(self.max_backlog, queue.qsize())
                if any(p.done() for p in pumps):
                    break  # a pump failed: its error is raised below
            while not queue.empty():  # due but never sent: the hub fell behind
                queue.get_nowait()
                self.unsent += self.args.batch
        finally:
            for _ in pumps:
                queue.put_nowait(None)
            await asyncio.gather(*pumps)

    # -- samples ---------------------------------------------------------------------------
    def sample(self) -> dict:
        row = {
            "t_s": round((now_ns() - self.started_ns) / 1e9, 2),
            "rss_bytes": self.hubs.rss(role=None),
            "cpu_s": round(sum(self.hubs.cpu().values()), 3),
            "completed": len(self.done_ns),
            "submitted": self.submitted,
        }
        self.samples.append(row)
        return row

    async def sampler(self, every_s: float) -> None:
        per_minute = max(1, round(60 / every_s))
        due = time.monotonic()
        while True:
            row = self.sample()
            self.hubs.check_alive()
            if (len(self.samples) - 1) % per_minute == 0:
                print(
                    f"  {row['t_s'] / 60:5.1f} min: RSS {row['rss_bytes'] / 2**20:.1f} MB, "
                    f"{row['completed']} completed of {row['submitted']} submitted",
                    flush=True,
                )
            due += every_s
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def run(self) -> None:
        self.fleet.on_event = self.on_event
        self.started_ns = now_ns()
        sampler = asyncio.create_task(self.sampler(self.args.sample_seconds))
        offer = asyncio.create_task(self.offer(self.args.minutes * 60))
        await asyncio.wait({sampler, offer}, return_when=asyncio.FIRST_COMPLETED)
        if sampler.done():  # a hub process died
            offer.cancel()
            await asyncio.gather(offer, return_exceptions=True)
            sampler.result()
        sampler.cancel()
        offer.result()
        self.sample()  # the window's end
        deadline = time.monotonic() + DRAIN_S
        while len(self.done_ns) < self.submitted and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        self.fleet.on_event = None


# --- figures ---------------------------------------------------------------------------------


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares: (slope, standard deviation of the residuals)."""
    n = len(xs)
    if n < 2:
        return 0.0, 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    residuals = [y - (my + slope * (x - mx)) for x, y in zip(xs, ys, strict=True)]
    return slope, (sum(r * r for r in residuals) / n) ** 0.5


def between(times: list[int], lo: float, hi: float) -> slice:
    """The slice of sorted `times` in [lo, hi)."""
    return slice(bisect.bisect_left(times, lo), bisect.bisect_left(times, hi))


def per_minute(soak: Soak, start_s: float, end_s: float) -> list[dict]:
    """Minutes of the window from its start; a last part of at least 30 s counts too."""
    done = sorted(soak.done_ns)
    dispatches = sorted(soak.dispatches)
    sent = [at for at, _ in dispatches]
    rows = []
    edge = start_s
    while end_s - edge >= 30:
        top = min(edge + 60, end_s)
        lo, hi = soak.started_ns + edge * 1e9, soak.started_ns + top * 1e9
        completed = len(done[between(done, lo, hi)])
        latency = [lat for _, lat in dispatches[between(sent, lo, hi)]]
        rss = [s["rss_bytes"] for s in soak.samples if edge <= s["t_s"] <= top]
        rows.append(
            {
                "from_s": round(edge, 1),
                "seconds": round(top - edge, 1),
                "lifecycles_per_s": round(completed / (top - edge), 1),
                "dispatch_ms": summary_ms(latency),
                "rss_mb": round(rss[-1] / 2**20, 2) if rss else None,
            }
        )
        edge = top
    return rows


def figures_of(soak: Soak, args) -> tuple[dict, list[dict], dict]:
    warmup_s = args.warmup_minutes * 60
    window = [s for s in soak.samples if s["t_s"] >= warmup_s] or soak.samples[-2:]
    first, last = window[0], window[-1]
    window_s = max(1e-9, last["t_s"] - first["t_s"])
    slope, residual = fit_line([s["t_s"] for s in window], [s["rss_bytes"] for s in window])
    rss_start_mb = first["rss_bytes"] / 2**20
    growth_mb = slope * window_s / 2**20
    growth_limit_mb = round(max(GROWTH_FLOOR_MB, GROWTH_SHARE * rss_start_mb), 2)
    done = last["completed"] - first["completed"]
    cpu_s = last["cpu_s"] - first["cpu_s"]
    achieved = done / window_s
    lo, hi = soak.started_ns + first["t_s"] * 1e9, soak.started_ns + last["t_s"] * 1e9
    latency = [lat for sent, lat in soak.dispatches if lo <= sent < hi]
    minutes = per_minute(soak, first["t_s"], last["t_s"])
    rates = [m["lifecycles_per_s"] for m in minutes]
    figures = {
        "offered_per_s": args.rate,
        "batch": args.batch,
        "agents": args.agents,
        "defences": args.defences,
        "minutes": args.minutes,
        "window_s": round(window_s, 1),
        "submitted": soak.submitted,
        "completed": len(soak.done_ns),
        "unsent": soak.unsent,
        "late_sends": soak.late,
        "max_backlog": soak.max_backlog,
        "lifecycles_per_s": round(achieved, 1),
        "lifecycles_per_s_per_minute": {
            "min": min(rates, default=None),
            "median": statistics.median(rates) if rates else None,
            "minutes": len(rates),
        },
        "dispatch_ms": summary_ms(latency),
        "hub_cpu_ms_per_lifecycle": round(1000 * cpu_s / max(1, done), 3),
        "hub_cpu_utilisation_cores": round(cpu_s / window_s, 2),
        "rss_before_load_mb": round(soak.samples[0]["rss_bytes"] / 2**20, 2),
        "rss_start_mb": round(rss_start_mb, 2),
        "rss_end_mb": round(last["rss_bytes"] / 2**20, 2),
        "rss_max_mb": round(max(s["rss_bytes"] for s in window) / 2**20, 2),
        "rss_slope_kb_per_min": round(slope * 60 / 1024, 2),
        "rss_slope_mb_per_hour": round(slope * 3600 / 2**20, 3),
        "rss_growth_mb": round(growth_mb, 3),
        "rss_growth_limit_mb": growth_limit_mb,
        "rss_fit_residual_mb": round(residual / 2**20, 3),
        "rss_samples_fitted": len(window),
    }
    verdicts = [
        verdict("RSS growth over the window (fit)", growth_mb, "<=", growth_limit_mb, "MB"),
        verdict("lifecycles/s achieved", achieved, ">=", RATE_SHARE * args.rate, "/s"),
    ]
    return figures, verdicts, {"per_minute": minutes, "samples": soak.samples}


async def run(args) -> int:
    backend = Backend(args.mode, label="soak")
    costs = None
    try:
        tokens = backend.create_agents([(f"agent-{i:05d}", []) for i in range(args.agents)])
        op = backend.operator_token()
        with harness.hubset(args, backend) as hubs:
            fleet = Fleet(
                specs(tokens, [p.ws_url for p in hubs.asgi]),
                processes=args.client_procs,
                behaviour="complete",
                stream=True,
            )
            async with fleet:
                if fleet.identified != args.agents:
                    raise RuntimeError(f"only {fleet.identified} identified: {fleet.failures}")
                soak = Soak(hubs, fleet, op, args)
                profiler = None
                if args.profile:
                    profiler = harness.Profiler(hubs.pids, f"soak-{args.mode}-{args.server}")
                    profiler.start()
                await soak.run()
                if profiler is not None:
                    costs = harness.top_costs(profiler.stop())
                hubs.check_alive()
                await fleet.stop()
    finally:
        backend.drop()
    figures, verdicts, series = figures_of(soak, args)
    path = harness.write_result(
        "soak",
        args.mode,
        args.server,
        harness.params_of(args),
        figures,
        verdicts,
        {**series, "profile": costs, "profiled": bool(costs)},
    )
    if costs:
        harness.print_profile(costs)
    server = harness.server_label(args.mode, args.server, harness.params_of(args))
    harness.print_figures("soak", args.mode, server, figures, verdicts, path)
    return 0


def main() -> None:
    harness.ensure_venv()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    harness.add_common_args(parser)
    harness.add_defences_arg(parser)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument(
        "--warmup-minutes",
        type=float,
        default=None,
        help="left out of the fit and the figures (default: 3, or a quarter of a shorter run)",
    )
    parser.add_argument("--rate", type=float, default=100, help="tasks offered per second")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument(
        "--batch", type=int, default=1, help="tasks per POST (1: /api/tasks, else /batch)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="HTTP connections submitting")
    parser.add_argument("--client-procs", type=int, default=1)
    parser.add_argument("--sample-seconds", type=float, default=10)
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.sample_seconds = min(args.minutes, 1), min(args.sample_seconds, 5)
    if args.warmup_minutes is None:
        args.warmup_minutes = min(3.0, args.minutes / 4)
    if args.warmup_minutes >= args.minutes:
        parser.error("--warmup-minutes must be shorter than --minutes")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
