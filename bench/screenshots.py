"""The README's screenshots, taken from the demo: `.venv/bin/python bench/screenshots.py`.

Starts `runhub --demo` on a fresh data directory of its own (the operator's data is never
touched), lets the demo agents work until a few tasks have finished, then photographs
each dashboard page (a channel with an operator's posts among them), the admin's task
list, task page, agent list and agent page, and the overview on a 390 px wide screen,
with Debian's Chromium through Playwright. Writes `docs/screenshots/*.png` (or the
directory given with `--out`).
"""

import argparse
import asyncio
import os
import queue
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
LOGIN_LINE = re.compile(r"Log in as (?P<user>\S+) with password (?P<password>\S+)")
START_LIMIT_S = 60
WANT_FINISHED = 6  # tasks completed or dead before the pictures are taken
WAIT_LIMIT_S = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(data_dir: Path, port: int) -> tuple[subprocess.Popen, tuple[str, str]]:
    """The demo hub and the login it prints: the demo runs on a data directory of its
    own, wiped at each start, so a user made beforehand would not be in it."""
    env = {**os.environ, "AGENTCOM_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    hub = subprocess.Popen(
        [*manage, "runhub", "--demo", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    login: queue.Queue[tuple[str, str]] = queue.Queue()

    def read_output() -> None:  # keeps the pipe drained for as long as the hub runs
        for line in hub.stdout:
            found = LOGIN_LINE.search(line)
            if found:
                login.put((found["user"], found["password"]))

    threading.Thread(target=read_output, daemon=True).start()
    try:
        return hub, login.get(timeout=START_LIMIT_S)
    except queue.Empty:
        hub.kill()
        raise RuntimeError("the demo printed no login") from None


async def take(url: str, out: Path, login: tuple[str, str]) -> list[Path]:
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
        await page.fill("#id_username", login[0])
        await page.fill("#id_password", login[1])
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
        await page.set_viewport_size({"width": 390, "height": 844})
        await shot("dashboard-390px.png", "/dashboard", wait_for="#chart svg")
        await browser.close()
    return taken


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "screenshots", help="(default: %(default)s)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="agentcom-screenshots-") as data_dir:
        hub, login = start_demo(Path(data_dir), port)
        try:
            for path in asyncio.run(take(f"http://127.0.0.1:{port}", args.out, login)):
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
