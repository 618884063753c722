"""Run every scenario in every mode and server, then rewrite the table and the plots.

    python bench/run_all.py                 # the full run (about two hours on 2 cores)
    python bench/run_all.py --quick         # small sizes, a few minutes
    python bench/run_all.py --only dispatch_latency,recovery --configs embedded/daphne
    python bench/run_all.py --report-only   # just rebuild the table, plots and BENCHMARKS.md

Each scenario runs as its own process (`python bench/<scenario>.py --mode M --server S`);
a failure is logged and the run goes on. The soak (30 minutes each) runs in the embedded
configurations only. Output goes to bench/results/run_all-<time>.log.
Profiled runs (`--profile`: embedded/daphne dispatch latency and throughput) are kept
apart from the table's figures and feed BENCHMARKS.md's "Where the time goes".
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import BENCH, RESULTS, ROOT, ensure_venv, python

SCENARIOS = ["queue_depth", "dispatch_latency", "recovery", "throughput", "connections", "soak"]
CONFIGS = ["embedded/daphne", "embedded/uvicorn", "scaled/daphne", "scaled/uvicorn"]
TIMEOUT_S = 20 * 60
TIMEOUT_S_OF = {"soak": 45 * 60}


def plan(args) -> list[list[str]]:
    runs = []
    for scenario in args.only:
        if scenario == "queue_depth":
            modes = sorted({c.split("/")[0] for c in args.configs})
            runs += [[scenario, "--mode", m] for m in modes]
            continue
        for config in args.configs:
            mode, server = config.split("/")
            if scenario == "soak" and mode != "embedded":
                continue
            runs.append([scenario, "--mode", mode, "--server", server])
        if scenario == "recovery" and "scaled/daphne" in args.configs:
            # The stock Redis client settings (5 s socket timeout): consumers die when idle.
            runs.append(
                [
                    scenario,
                    "--mode",
                    "scaled",
                    "--server",
                    "daphne",
                    "--stock-redis",
                    "--rounds",
                    "1",
                ]
            )
    if args.profile:
        runs.append(
            [
                "dispatch_latency",
                "--mode",
                "embedded",
                "--server",
                "daphne",
                "--profile",
                "--tasks",
                "1000",
            ]
        )
        runs.append(
            [
                "throughput",
                "--mode",
                "embedded",
                "--server",
                "daphne",
                "--profile",
                "--no-curve",
                "--tasks",
                "3000",
            ]
        )
    return runs


def main() -> None:
    ensure_venv()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", type=lambda s: s.split(","), default=SCENARIOS)
    parser.add_argument("--configs", type=lambda s: s.split(","), default=CONFIGS)
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    failures = []
    if not args.report_only:
        log_path = RESULTS / f"run_all-{dt.datetime.now():%Y%m%d-%H%M%S}.log"
        print(f"log: {log_path.relative_to(ROOT)}", flush=True)
        with open(log_path, "a") as log:
            for run in plan(args):
                cmd = [python(), str(BENCH / f"{run[0]}.py"), *run[1:]]
                if args.quick and "--profile" not in run:
                    cmd.append("--quick")
                label = " ".join(["bench/" + run[0] + ".py", *run[1:]])
                print(f"[{dt.datetime.now():%H:%M:%S}] {label}", flush=True)
                log.write(f"\n===== {label}\n")
                log.flush()
                started = time.monotonic()
                try:
                    proc = subprocess.run(
                        cmd,
                        cwd=ROOT,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                        timeout=TIMEOUT_S_OF.get(run[0], TIMEOUT_S),
                    )
                    output, code = proc.stdout, proc.returncode
                except subprocess.TimeoutExpired as exc:
                    output = (
                        (exc.stdout or b"").decode(errors="replace")
                        if isinstance(exc.stdout, bytes)
                        else (exc.stdout or "")
                    )
                    code = "timeout"
                log.write(output)
                log.flush()
                took = time.monotonic() - started
                tail = [
                    line for line in output.splitlines() if line.startswith(("  PASS", "  MISS"))
                ]
                for line in tail:
                    print("   " + line.strip(), flush=True)
                if code != 0:
                    failures.append(f"{label}: exit {code}")
                    print(f"   FAILED ({code}); see the log", flush=True)
                print(f"   {took:.0f} s", flush=True)
    subprocess.run([python(), str(BENCH / "report.py")], cwd=ROOT, check=False)
    if failures:
        print("\nfailed runs:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    main()
