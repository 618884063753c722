#!/usr/bin/env python3
"""Run AgentCom from a fresh checkout with nothing but Python 3.11.

usage:
    python3 dev.py hub [runhub options]   # the hub on http://127.0.0.1:8000: SQLite,
                                          # in-memory channel layer, embedded scheduler
    python3 dev.py hub --demo             # a demo hub with fake agents, in var/demo
    python3 dev.py test [pytest options]  # the whole test suite
    python3 dev.py hub --help             # runhub's options (--host, --port, ...)
    python3 dev.py test --help            # what the test command does

Both create `.venv` and install the pinned requirements when they are missing or changed.
Data lives in ./var (AGENTCOM_DATA_DIR).
"""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import venv
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
REQUIREMENTS = [
    ROOT / "requirements.txt",
    ROOT / "requirements-dev.txt",
    ROOT / "sidecar" / "requirements.txt",
]
STAMP = VENV / ".requirements.sha256"
CI_POSTGRES = "postgres://postgres@127.0.0.1:5432/test"
CI_REDIS = "redis://127.0.0.1:6379/0"

TEST_HELP = """\
usage: python3 dev.py test [pytest options]

Runs the test suite with pytest on SQLite + the in-memory channel layer (data in
var/test), then again on Postgres + Redis when they are reachable: DATABASE_URL and
REDIS_URL, default postgres://postgres@127.0.0.1:5432/test and redis://127.0.0.1:6379/0.
Elsewhere that second run is skipped with a message; with CI=true it is mandatory (the
servers are started if installed, and the run fails if they cannot be reached).

Extra arguments go to pytest on both runs, e.g.
    python3 dev.py test tests/tasks -k fencing -x
pytest's own options: .venv/bin/python -m pytest --help
"""

HELP_FLAGS = ("-h", "--help", "help")


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - run by whatever python3 is on PATH
        sys.exit("AgentCom needs Python 3.11 or newer")
    if not PYTHON.exists():
        say(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256(
        b"".join(p.read_bytes() for p in REQUIREMENTS if p.exists())
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    say("installing pinned requirements")
    subprocess.run([PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    args = [PYTHON, "-m", "pip", "install", "-q", "-r", ROOT / "requirements-dev.txt"]
    if (ROOT / "sidecar" / "requirements.txt").exists():
        args += ["-r", ROOT / "sidecar" / "requirements.txt"]
    subprocess.run(args, check=True)
    STAMP.write_text(digest)


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def start_services() -> None:
    """CI machines have the servers installed; start them if they are not running."""
    if not reachable(CI_POSTGRES, 5432) and shutil.which("pg_ctlcluster"):
        versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
        for version in versions:
            say(f"starting PostgreSQL {version}")
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"])
    if not reachable(CI_REDIS, 6379) and shutil.which("redis-server"):
        say("starting Redis")
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ]
        )


# Two workers, a test file each at a time: much of the suite waits on real processes and
# sockets, so two files side by side take little more than one. `-n 0` runs in one process.
WORKERS = ["-n", "2", "--dist", "loadfile"]


def run_pytest(extra: list[str], env: dict[str, str], label: str) -> int:
    say(f"test suite on {label}")
    workers = [] if any(arg.startswith("-n") for arg in extra) else WORKERS
    return subprocess.call([PYTHON, "-m", "pytest", *workers, *extra], cwd=ROOT, env=env)


def test(extra: list[str]) -> int:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    base["AGENTCOM_DATA_DIR"] = str(ROOT / "var" / "test")
    base["AGENTCOM_DB_CONN_MAX_AGE"] = "0"  # worker threads must not keep the test DB open
    status = run_pytest(extra, base, "SQLite + in-memory channel layer")
    ci = os.getenv("CI", "").lower() == "true"
    database_url = os.getenv("DATABASE_URL", CI_POSTGRES)
    redis_url = os.getenv("REDIS_URL", CI_REDIS)
    if ci:
        start_services()
    if not (reachable(database_url, 5432) and reachable(redis_url, 6379)):
        if ci:
            say("CI=true but Postgres or Redis is unreachable: the scaled variant cannot run")
            return 1
        say(f"skipping the Postgres + Redis run: {database_url} or {redis_url} is unreachable")
        return status
    scaled = {
        **base,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "AGENTCOM_TEST_SCALED": "1",
        # A key prefix and a test database of its own, so two runs on one machine never
        # flush or drop each other's.
        "AGENTCOM_REDIS_PREFIX": f"agentcom-test-{os.getpid()}",
        "AGENTCOM_TEST_DB_NAME": f"test_agentcom_{os.getpid()}",
    }
    return run_pytest(extra, scaled, "Postgres + Redis") or status


def main() -> int:
    command, *rest = sys.argv[1:] or [""]
    if command in HELP_FLAGS:
        print(__doc__)
        return 0
    if command not in ("hub", "test"):
        print(__doc__, file=sys.stderr)
        problem = f"unknown command {command!r}" if command else "name a command: hub or test"
        print(f"dev.py: {problem}", file=sys.stderr)
        return 2
    if command == "test" and rest[:1] and rest[0] in HELP_FLAGS[:2]:
        print(TEST_HELP)
        return 0
    ensure_venv()
    if command == "hub":
        os.execv(PYTHON, [str(PYTHON), str(ROOT / "manage.py"), "runhub", *rest])
    return test(rest)


if __name__ == "__main__":
    sys.exit(main())
