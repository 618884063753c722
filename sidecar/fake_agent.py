"""A stand-in agent for tests and demos, usable directly as a ``wake_command``.

    "wake_command": "/path/to/python -m sidecar.fake_agent --delay 0.2"

It reads the task from ``AGENTCOM_TASK_ID``/``AGENTCOM_RESULTS_DIR`` (set by the
sidecar's wake) or ``--task-id``/``--results-dir``, writes ``<id>.started`` at
once, then detaches into the background (so the wake command returns at once)
and, after the delay, writes ``<id>.json`` by temp file and rename.

Options may also come from the environment: ``FAKE_AGENT_DELAY_S``,
``FAKE_AGENT_OUTCOME`` (``success``, ``failure``, or ``none`` = never report),
``FAKE_AGENT_REASON``, ``FAKE_AGENT_TOKENS``, ``FAKE_AGENT_COUNTER_FILE`` (one
line appended per run, for counting wakes). ``--foreground`` skips detaching.

Only the standard library is used, so ``python path/to/fake_agent.py`` works too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def parse_args(argv: list[str]) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m sidecar.fake_agent",
        description="A stand-in agent for trying the pipeline. It is meant to be a sidecar's "
        "wake_command (e.g. onboard_agent --wake-command '/path/to/agentcom/.venv/bin/python "
        "-m sidecar.fake_agent --delay 2'): the sidecar sets AGENTCOM_TASK_ID and "
        "AGENTCOM_RESULTS_DIR, and the fake agent reports the task started, then, after the "
        "delay, its result. Run by itself it needs --task-id and --results-dir.",
    )
    parser.add_argument(
        "--task-id",
        default=env.get("AGENTCOM_TASK_ID"),
        help="the task to report on (default: $AGENTCOM_TASK_ID)",
    )
    parser.add_argument(
        "--results-dir",
        default=env.get("AGENTCOM_RESULTS_DIR"),
        help="where the sidecar reads results (default: $AGENTCOM_RESULTS_DIR)",
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=float(env.get("FAKE_AGENT_DELAY_S", "0.2")),
        help="seconds of pretended work (default: %(default)s, or $FAKE_AGENT_DELAY_S)",
    )
    parser.add_argument(
        "--outcome",
        choices=("success", "failure", "none"),
        default=env.get("FAKE_AGENT_OUTCOME", "success"),
        help="the result to report; none = never report (default: %(default)s)",
    )
    parser.add_argument(
        "--reason",
        default=env.get("FAKE_AGENT_REASON", "fake_agent_failure"),
        help="the reason of a failure (default: %(default)s)",
    )
    parser.add_argument(
        "--tokens",
        type=int,
        default=int(env.get("FAKE_AGENT_TOKENS", "42")),
        help="tokens_used to report (default: %(default)s)",
    )
    parser.add_argument(
        "--usd-per-mtok",
        type=float,
        default=0.0,
        help="also report tokens_in/tokens_out, a model and cost_usd at this price per "
        "million tokens (default: %(default)s, none)",
    )
    parser.add_argument(
        "--progress", action="store_true", help="write <id>.progress before the result"
    )
    parser.add_argument(
        "--counter-file",
        default=env.get("FAKE_AGENT_COUNTER_FILE"),
        help="append the task id to this file on each run, for counting wakes",
    )
    parser.add_argument("--foreground", action="store_true", help="do not detach from the shell")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    if not options.task_id or not options.results_dir:
        print(
            "fake_agent: no task: it is meant to run as a sidecar's wake_command, which sets "
            "AGENTCOM_TASK_ID and AGENTCOM_RESULTS_DIR (or pass --task-id and --results-dir); "
            "see --help",
            file=sys.stderr,
        )
        return 2
    results_dir = Path(options.results_dir)
    if options.counter_file:
        with open(options.counter_file, "a", encoding="utf-8") as counter:
            counter.write(f"{options.task_id}\n")
    write_renamed(results_dir / f"{options.task_id}.started", "")
    if not options.foreground and not detach():
        return 0  # the original process: the shell may exit now
    time.sleep(max(0.0, options.delay))
    if options.progress:
        write_renamed(results_dir / f"{options.task_id}.progress", json.dumps({"percent": 50}))
    if options.outcome == "none":
        return 0
    if options.outcome == "success":
        description = os.environ.get("AGENTCOM_TASK_DESCRIPTION", "")
        result = {
            "status": "success",
            "output": f"done: {description}",
            "tokens_used": options.tokens,
        }
        if options.usd_per_mtok > 0:  # what an executor reports (PROTOCOL.md §6.5)
            tokens_out = options.tokens // 10
            result |= {
                "tokens_in": options.tokens - tokens_out,
                "tokens_out": tokens_out,
                "model": "fake-model",
                "cost_usd": round(options.tokens * options.usd_per_mtok / 1e6, 6),
            }
    else:
        result = {"status": "failed", "reason": options.reason}
    write_renamed(results_dir / f"{options.task_id}.json", json.dumps(result))
    return 0


def detach() -> bool:
    """Double-fork into a new session; True in the detached grandchild, False in the caller."""
    if os.fork() > 0:
        return False
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    return True


def write_renamed(path: Path, text: str) -> None:
    """Write path atomically: a temp file beside it, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


if __name__ == "__main__":
    sys.exit(main())
