"""`runhub --demo`: two local sidecars with the fake agent and a trickle of sample tasks.

A newcomer sees agents appear and tasks flow on the dashboard within seconds. The demo
hub has a data directory of its own, `<data dir>/demo` (SQLite, whatever DATABASE_URL
and REDIS_URL say), emptied on each start, so it never mixes with or changes the
operator's real agents and tasks: `runhub --demo` starts itself again with
AGENTCOM_DATA_DIR pointing there (`isolate`), and once that hub holds the directory's
lock it empties it (`wipe`). Tasks go through `tasks.queue` like any other; the sidecars
are ordinary `python -m sidecar` processes whose configs live in `<demo dir>/sidecars/`.
They stop with the hub: on a clean shutdown through the reactor, and on a crash because
the kernel signals them when the hub's main thread dies (PR_SET_PDEATHSIG).
"""

import asyncio
import ctypes
import logging
import os
import random
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model

from agentcom_site.startup import LOCK_NAME
from agents import onboarding, services
from tasks import queue
from tasks.models import Priority, Task, TaskStatus

log = logging.getLogger("agentcom.demo")

DEMO_AGENTS = {"demo-alpha": ["code", "python"], "demo-beta": ["code", "docs"]}
DEMO_USER = "agentcom-demo"
SUBMITTER = "operator:demo"
FIRST_BURST = 4
TRICKLE_S = (2.0, 6.0)
MAX_QUEUED = 12  # no point piling up work when nobody takes it
SAMPLE_TASKS = [
    ("Fix the flaky login test", ["code"]),
    ("Add type hints to the billing module", ["python"]),
    ("Write the release notes for 2.1", ["docs"]),
    ("Bump the pinned dependencies", []),
    ("Profile the slow search endpoint", ["code"]),
    ("Document the retry policy", ["docs"]),
    ("Port the CSV exporter to the new API (flaky)", ["python"]),
    ("Triage yesterday's error reports", []),
]
# The fake agent fails tasks marked "(flaky)" half of the time, so the dashboard also
# shows retries and, now and then, a dead letter to retry.
WAKE = (
    'case "$AGENTCOM_TASK_DESCRIPTION" in *"(flaky)"*) o=$([ $(($$ % 2)) -eq 0 ] '
    "&& echo failure || echo success);; *) o=success;; esac; "
    "{python} -m sidecar.fake_agent --delay {delay} --outcome $o --tokens $(($$ % 900 + 100)) "
    "--usd-per-mtok 15"
)

DEMO_DIR_NAME = "demo"
# Survive the wipe: the lock the demo hub holds, and the secret key its settings just read.
KEEP_ON_WIPE = {LOCK_NAME, "secret_key"}
# Variables that would point the demo at the operator's own database or channel layer.
NOT_INHERITED = ("DATABASE_URL", "REDIS_URL")

_children: list[subprocess.Popen] = []
_trickle: asyncio.Task | None = None


def demo_data_dir(data_dir: Path) -> Path:
    return data_dir / DEMO_DIR_NAME


def isolate(runhub_args: list[str]) -> NoReturn:
    """Replace this process by `runhub <runhub_args>` on the demo's own data directory.

    The settings (database, channel layer) are fixed when Django starts, so the demo gets
    its own by starting again, same pid, with an environment that names only the demo's.
    """
    directory = demo_data_dir(settings.DATA_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
    env["AGENTCOM_DATA_DIR"] = str(directory)
    manage = str(settings.BASE_DIR / "manage.py")
    os.execve(sys.executable, [sys.executable, manage, "runhub", *runhub_args], env)


def wipe(data_dir: Path) -> None:
    """Empty the demo's data directory (called once its hub holds the lock)."""
    if data_dir.name != DEMO_DIR_NAME:  # never an operator's own data
        raise ValueError(f"{data_dir} is not a demo data directory")
    for entry in data_dir.iterdir():
        if entry.name in KEEP_ON_WIPE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def prepare_agents(data_dir: Path, hub_url: str) -> list[Path]:
    """Demo agents with tokens and their sidecar configs; returns the config paths."""
    paths = []
    for index, (agent_id, capabilities) in enumerate(DEMO_AGENTS.items()):
        registration = services.register_agent(
            agent_id, capabilities=capabilities, allow_existing=True
        )
        config = onboarding.sidecar_config(
            agent_id=agent_id,
            token=registration.token,
            hub_url=hub_url,
            capabilities=capabilities,
            wake_command=WAKE.format(python=shlex.quote(sys.executable), delay=2 + 2 * index),
            reconnect_base_ms=500,
            reconnect_max_ms=5_000,
            wake_retry_delays_ms=[500, 1_000, 2_000],
        )
        paths.append(onboarding.write_config(data_dir / "sidecars" / agent_id, config))
    return paths


def demo_login() -> tuple[str, str]:
    """A staff superuser for the demo with a new random password, printed once."""
    password = secrets.token_urlsafe(12)
    users = get_user_model()
    user = users.objects.filter(username=DEMO_USER).first() or users(username=DEMO_USER)
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save()
    return DEMO_USER, password


def _die_with_parent():
    """For the child between fork and exec: libc is loaded beforehand, so no lock is taken."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    return lambda: libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def start_sidecars(config_paths: list[Path]) -> list[subprocess.Popen]:
    env = {**os.environ, "PYTHONPATH": str(settings.BASE_DIR)}
    preexec = _die_with_parent()
    for path in config_paths:
        log_file = (path.parent / "sidecar.out").open("ab")
        _children.append(
            subprocess.Popen(
                [sys.executable, "-m", "sidecar", "--config", str(path)],
                cwd=path.parent,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                preexec_fn=preexec,
            )
        )
        log_file.close()
    return list(_children)


def stop_sidecars() -> None:
    """SIGTERM each sidecar (they save their queue file and say goodbye), then wait."""
    for child in _children:
        if child.poll() is None:
            child.terminate()
    for child in _children:
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
    _children.clear()


def submit_sample() -> Task | None:
    if Task.objects.filter(status=TaskStatus.QUEUED).count() >= MAX_QUEUED:
        return None
    title, capabilities = random.choice(SAMPLE_TASKS)
    task, _ = queue.submit_task(
        description=f"{title}\n\nA sample task from the AgentCom demo.",
        title=title,
        submitted_by=SUBMITTER,
        priority=random.choice([Priority.HIGH, Priority.NORMAL, Priority.NORMAL, Priority.LOW]),
        needed_capabilities=capabilities,
        max_retries=2,
    )
    return task


async def trickle() -> None:
    """A few tasks at once, then one every few seconds, for as long as the hub runs."""
    submit = database_sync_to_async(submit_sample)
    for _ in range(FIRST_BURST):
        await submit()
    while True:
        await asyncio.sleep(random.uniform(*TRICKLE_S))
        try:
            await submit()
        except Exception:
            log.exception("demo: could not submit a sample task")


def _start_trickle() -> None:
    global _trickle
    _trickle = asyncio.get_running_loop().create_task(trickle())


def _stop() -> None:
    if _trickle is not None:
        _trickle.cancel()
    stop_sidecars()


def start(*, host: str, port: int) -> None:
    """Called by `runhub --demo` once the server is bound, before its event loop runs."""
    from twisted.internet import reactor

    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    hub_url = f"ws://{local}:{port}/ws"
    start_sidecars(prepare_agents(settings.DATA_DIR, hub_url))
    username, password = demo_login()
    reactor.callLater(0, _start_trickle)
    reactor.addSystemEventTrigger("before", "shutdown", _stop)
    print(
        f"Demo mode: agents {', '.join(DEMO_AGENTS)} (fake agent) and sample tasks.\n"
        f"  Data: {settings.DATA_DIR} (emptied on each demo start; a hub without --demo "
        "never sees it)\n"
        f"  Dashboard: http://{local}:{port}/dashboard\n"
        f"  Log in as {username} with password {password} (shown only now; a new one "
        "is set each time the demo starts)",
        flush=True,
    )
