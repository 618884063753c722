"""The README's screenshots, taken from the demo: `.venv/bin/python bench/screenshots.py`.

Starts `runhub --demo` on a fresh data directory of its own (the operator's data is never
touched), lets the demo agents work until a few tasks have finished, then photographs
each dashboard page (a channel with an operator's posts among them), the admin's task
list, task page, agent list and agent page, and the overview on a 390 px wide screen,
with Debian's Chromium through Playwright. For the
page of a verified task, the script itself plays an agent over the real protocol: it
takes a task with verification steps, reports a failed and a passing attempt and asks
for the change's risk tier (`task-verification.png`). Writes `docs/screenshots/*.png`
(or the directory given with `--out`).
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
USERNAME = "screenshots"
PASSWORD = "screenshots-only-password"
WANT_FINISHED = 6  # tasks completed or dead before the pictures are taken
WAIT_LIMIT_S = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MANAGE = [sys.executable, str(ROOT / "manage.py")]


def demo_env(data_dir: Path) -> dict[str, str]:
    """The environment of `runhub --demo` on data_dir; the demo's own data (which the
    other commands here must name) is its `demo` subdirectory, emptied at its start."""
    env = {**os.environ, "AGENTCOM_DATA_DIR": str(data_dir), "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return env


def create_login(env: dict[str, str]) -> None:
    """The screenshots' staff login, made in the running demo's database."""
    subprocess.run(
        [*MANAGE, "createsuperuser", "--noinput", "--username", USERNAME, "--email", "s@x.test"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )


def start_demo(data_dir: Path, port: int) -> subprocess.Popen:
    env = demo_env(data_dir)
    manage = MANAGE
    return subprocess.Popen(
        [*manage, "runhub", "--demo", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _printed_token(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*MANAGE, *args], env=env, cwd=ROOT, check=True, capture_output=True)
    return done.stdout.decode().strip().splitlines()[-1]


FIRST_OUTPUT = """F.                                                                       [100%]
FAILED tests/test_cart.py::test_total_includes_tax - assert 100 == 119
1 failed, 1 passed in 0.21s"""
VERIFIED_TASK = {
    "description": "Make the cart total include tax",
    "success_criteria": "The cart total includes tax, and the tests pass.",
    "file_hints": ["shop/cart.py", "tests/test_cart.py"],
    "verification_steps": [
        {"type": "tests_pass", "command": "python -m pytest -q tests/test_cart.py"},
        {"type": "diff_within", "paths": ["shop/**", "tests/**"]},
    ],
    "needed_capabilities": ["verify-demo"],
}


def _attempt(number: int, passed: bool, output: str, took_ms: int) -> dict:
    steps = [
        {"kind": "tests_pass", "label": "python -m pytest -q tests/test_cart.py"},
        {"kind": "diff_within", "label": "changes only in shop/**, tests/**"},
    ]
    outputs = [output, "2 changed paths, all within shop/**, tests/**"]
    return {
        "attempt": number,
        "passed": passed,
        "finished_at": int(time.time() * 1000),
        "steps": [
            {
                **step,
                "index": index,
                "passed": passed or index == 1,
                "exit_code": (0 if passed else 1) if index == 0 else None,
                "duration_ms": took_ms if index == 0 else 12,
                "output": text,
                "truncated": False,
            }
            for index, (step, text) in enumerate(zip(steps, outputs, strict=True))
        ],
    }


async def stage_verified_task(url: str, env: dict[str, str]) -> str:
    """Play an agent whose first attempt failed its tests; return the task's id."""
    import websockets

    token = _printed_token(env, "create_agent", "screenshot-coder", "--capabilities", "verify-demo")
    ops = _printed_token(env, "create_operator_token", "screenshots")

    async def frame(ws, kind: str) -> dict:
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return message

    async with websockets.connect(url.replace("http://", "ws://") + "/ws") as ws:
        identify = {"type": "identify", "agent_id": "screenshot-coder", "token": token}
        await ws.send(json.dumps({**identify, "capabilities": ["verify-demo"], "presence": False}))
        await frame(ws, "identified")
        request = urllib.request.Request(
            f"{url}/api/tasks",
            data=json.dumps(VERIFIED_TASK).encode(),
            headers={"Authorization": f"Bearer {ops}", "Content-Type": "application/json"},
        )
        await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
        assign = await frame(ws, "task_assign")
        task = {"task_id": assign["task_id"], "generation": assign["generation"]}
        await ws.send(json.dumps({"type": "task_accepted", **task}))
        await frame(ws, "task_ack")
        shape = {"files_changed": 2, "lines_added": 14, "lines_removed": 3}
        paths = ["shop/cart.py", "tests/test_cart.py"]
        diff = {**shape, "paths": paths, "tests_touched": paths[1:]}
        await ws.send(json.dumps({"type": "task_classify", **task, "diff": diff}))
        await frame(ws, "task_risk")
        reports = [
            _attempt(1, False, FIRST_OUTPUT, 2310),
            _attempt(2, True, "2 passed in 0.19s", 2050),
        ]
        result = {"status": "success", "output": "Tax is added to the cart total."}
        complete = {"type": "task_complete", **task, "result": result, "verification": reports}
        await ws.send(json.dumps(complete))
        await frame(ws, "task_ack")
    return assign["task_id"]


CHANNEL_POSTS = [
    "Morning, fleet. The release branch is frozen at 17:00 UTC today.",
    "After the freeze only fixes for failing checks, please; anything else waits a day.",
]


async def post_to_a_channel(page, url: str) -> None:
    """A channel with an operator's posts in it, made through the dashboard's own forms
    (the demo's agents work on tasks and do not chat)."""
    await page.goto(f"{url}/dashboard/channels")
    await page.fill("#new-channel [name=name]", "fleet")
    await page.fill("#new-channel [name=description]", "announcements for every agent")
    await page.click("#new-channel button")
    await page.wait_for_url(f"{url}/dashboard/channels/fleet")
    for text in CHANNEL_POSTS:
        await page.fill("#channel-post textarea", text)
        await page.click("#channel-post button")
        await page.wait_for_url(f"{url}/dashboard/channels/fleet")


async def take(url: str, out: Path, env: dict[str, str]) -> list[Path]:
    from playwright.async_api import async_playwright

    taken: list[Path] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        deadline = time.monotonic() + 30
        while True:
            try:
                await page.goto(f"{url}/admin/login/?next=/dashboard")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        # The demo empties and migrates its database before it answers: log in only now.
        create_login(env)
        await page.fill("#id_username", USERNAME)
        await page.fill("#id_password", PASSWORD)
        await page.click("input[type=submit]")
        await page.wait_for_url(f"{url}/dashboard")

        # The demo works at its own pace: poll the task list until enough has finished.
        deadline = time.monotonic() + WAIT_LIMIT_S
        while time.monotonic() < deadline:
            await page.goto(f"{url}/dashboard/tasks?status=completed")
            done = await page.locator("tr[data-task-id]").count()
            if done >= WANT_FINISHED:
                break
            await asyncio.sleep(2)
        first_task = await page.locator("tr[data-task-id]").first.get_attribute("data-task-id")

        async def shot(name: str, path: str, *, wait_for: str = "main") -> None:
            await page.goto(url + path)
            await page.locator(wait_for).first.wait_for()
            await page.wait_for_timeout(600)  # let the socket's first snapshot redraw
            target = out / name
            await page.screenshot(path=str(target), full_page=True)
            taken.append(target)

        await shot("dashboard.png", "/dashboard", wait_for="#chart svg")
        await shot("tasks.png", "/dashboard/tasks")
        await shot("task.png", f"/dashboard/tasks/{first_task}")
        await shot("agents.png", "/dashboard/agents")
        await shot("task-form.png", "/dashboard/tasks/new")
        await post_to_a_channel(page, url)
        await shot("channel.png", "/dashboard/channels/fleet", wait_for="#channel-messages")
        await shot("admin-tasks.png", "/admin/tasks/task/")
        await shot("admin-task.png", f"/admin/tasks/task/{first_task}/change/")
        await shot("admin-agents.png", "/admin/agents/agent/")
        await page.goto(f"{url}/admin/agents/agent/")
        agent_page = await page.locator("#result_list tbody th a").first.get_attribute("href")
        await shot("admin-agent.png", agent_page)
        verified = await stage_verified_task(url, env)
        await shot(
            "task-verification.png", f"/dashboard/tasks/{verified}", wait_for="#task-verification"
        )
        await page.set_viewport_size({"width": 390, "height": 844})
        await shot("dashboard-390px.png", "/dashboard", wait_for="#chart svg")
        await browser.close()
    return taken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "screenshots", help="(default: %(default)s)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="agentcom-screenshots-") as data_dir:
        hub = start_demo(Path(data_dir), port)
        try:
            url = f"http://127.0.0.1:{port}"
            demo_data = demo_env(Path(data_dir) / "demo")
            for path in asyncio.run(take(url, args.out, demo_data)):
                print(path)
        finally:
            hub.terminate()
            try:
                hub.wait(timeout=20)
            except subprocess.TimeoutExpired:
                hub.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
