"""Command line: ``python -m sidecar [run|report|started|mcp] [--config PATH] ...``.

Run it from the AgentCom checkout, or with ``PYTHONPATH`` set to it, with a Python that
has ``sidecar/requirements.txt`` installed (``.venv/bin/python`` after ``dev.py``).

* ``run`` (the default): the relay, until SIGTERM/SIGINT; SIGHUP restarts it, after
  telling the hub (``agent_restarting``).
* ``report``: write ``<task_id>.json`` (or ``<task_id>.started`` with ``--started``, or
  ``<task_id>.progress`` with ``--progress VALUE``).
* ``started``: write ``<task_id>.started``.
* ``mcp``: a stdio MCP server for an agent session, relaying to the running sidecar
  (sidecar.mcpserver); its config is --config, else ``$AGENTCOM_SIDECAR_CONFIG``.

``report``/``started`` take the task id and results directory from the options,
else from ``AGENTCOM_TASK_ID``/``AGENTCOM_RESULTS_DIR`` (set for a woken agent),
else from the config file. Config errors exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import textwrap
from pathlib import Path

from sidecar.config import ConfigError, load_config, read_config_file, results_dir_from

CONFIG_ERROR_EXIT = 2
COMMANDS = {
    "run": "the relay (the default): hold the hub connection, wake the agent for each "
    "task, relay its result files; until SIGTERM or SIGINT",
    "report": "for the woken agent: write its result (or with --started / --progress, "
    "that it started / how far it is) into the results directory",
    "started": "for the woken agent: write <task_id>.started (the same as report --started)",
    "mcp": "for an agent session: an MCP server on stdin/stdout whose tools act as this "
    "agent through the running sidecar (add it to the session's MCP config)",
}
OVERVIEW = """\
usage: python -m sidecar [run|report|started|mcp] [--config PATH] [options]

The AgentCom sidecar: the always-on relay between the hub and one agent on this machine.
Run it from the AgentCom checkout (or with PYTHONPATH set to it) with a Python that has
sidecar/requirements.txt installed, e.g. .venv/bin/python after `python3 dev.py hub`.
`manage.py onboard_agent` on the hub writes its config.json and prints the exact command.

commands:
{commands}

Each command's options (also `python -m sidecar COMMAND --help`):
"""


def overview() -> str:
    commands = "\n".join(
        textwrap.fill(text, 88, initial_indent=f"  {name:<9}", subsequent_indent=" " * 11)
        for name, text in COMMANDS.items()
    )
    parts = [OVERVIEW.format(commands=commands)]
    parts += [_parser(name).format_help() for name in COMMANDS]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"], ["help"]):
        print(overview())
        return 0
    command = args.pop(0) if args and args[0] in COMMANDS else "run"
    parser = _parser(command)
    options = parser.parse_args(args)
    try:
        if command == "run":
            return _run(options)
        if command == "mcp":
            return _mcp(options)
        return _report(options, started_only=command == "started")
    except ConfigError as exc:
        print(f"sidecar: config error: {exc.field}: {exc.detail}", file=sys.stderr)
        return CONFIG_ERROR_EXIT


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m sidecar {command}".strip(), description=COMMANDS[command]
    )
    parser.add_argument(
        "--config", default=None, help="path of config.json (default: ./config.json)"
    )
    if command in ("run", "mcp"):
        return parser
    parser.add_argument(
        "--task-id",
        default=os.environ.get("AGENTCOM_TASK_ID"),
        help="the task (default: $AGENTCOM_TASK_ID, set for a woken agent)",
    )
    parser.add_argument(
        "--results-dir",
        help="where to write (default: $AGENTCOM_RESULTS_DIR, else the config's results_dir)",
    )
    if command == "report":
        parser.add_argument("--status", choices=("success", "failed"), help="required for a result")
        parser.add_argument("--output", help="what the agent did, shown on the dashboard")
        parser.add_argument("--pr-url", help="the pull request it opened")
        parser.add_argument("--tokens-used", type=int, help="tokens spent on the task")
        parser.add_argument("--reason", help="why it failed (with --status failed)")
        parser.add_argument(
            "--started", action="store_true", help="write <task_id>.started instead"
        )
        parser.add_argument(
            "--progress",
            metavar="VALUE",
            help="write <task_id>.progress (JSON or text) instead; also shows the agent is alive",
        )
    return parser


def _run(options: argparse.Namespace) -> int:
    # Until the event loop installs its own handlers there is nothing to save: just exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: sys.exit(0))
    from sidecar.service import RESTART_EXIT, run

    status = run(load_config(options.config))
    if status == RESTART_EXIT:
        # The same command line again, in this process (same pid for a supervisor).
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    return status


def _mcp(options: argparse.Namespace) -> int:
    from sidecar.mcpserver import serve

    config_path, _ = read_config_file(
        options.config or os.environ.get("AGENTCOM_SIDECAR_CONFIG") or None
    )
    return serve(config_path.parent)


def _report(options: argparse.Namespace, *, started_only: bool) -> int:
    from sidecar.report import build_result, write_progress, write_result, write_started

    if not options.task_id:
        print("sidecar: --task-id is required (or set AGENTCOM_TASK_ID)", file=sys.stderr)
        return CONFIG_ERROR_EXIT
    results_dir = _results_dir(options)
    if started_only or options.started:
        print(write_started(results_dir, options.task_id))
        return 0
    if options.progress is not None:
        print(write_progress(results_dir, options.task_id, options.progress))
        return 0
    if options.status is None:
        print("sidecar: --status success|failed is required", file=sys.stderr)
        return CONFIG_ERROR_EXIT
    result = build_result(
        status=options.status,
        output=options.output,
        pr_url=options.pr_url,
        tokens_used=options.tokens_used,
        reason=options.reason,
    )
    print(write_result(results_dir, options.task_id, result))
    return 0


def _results_dir(options: argparse.Namespace) -> Path:
    """--results-dir, else --config's, else $AGENTCOM_RESULTS_DIR, else ./config.json's."""
    if options.results_dir:
        return Path(options.results_dir)
    from_env = os.environ.get("AGENTCOM_RESULTS_DIR")
    if from_env and not options.config:
        return Path(from_env)
    config_path, raw = read_config_file(options.config)
    return results_dir_from(config_path, raw)


if __name__ == "__main__":
    sys.exit(main())
