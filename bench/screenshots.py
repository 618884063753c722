"""The README's screenshots, taken from the demo: `.venv/bin/python bench/screenshots.py`.

Starts `runhub --demo` on a fresh data directory of its own (the operator's data is never
touched), lets the demo agents work until a few tasks have finished, then photographs
each dashboard page, the admin's task list, task page, agent list and agent page, and the
overview on a 390 px wide screen, with Debian's Chromium through Playwright. Writes
`docs/screenshots/*.png` (or the directory given with `--out`).
"""

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
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


def start_demo(data_dir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "AGENTCOM_DATA_DIR": str(data_dir), "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run(
        [*manage, "createsuperuser", "--noinput", "--username", USERNAME, "--email", "s@x.test"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    return subprocess.Popen(
        [*manage, "runhub", "--demo", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def take(url: str, out: Path) -> list[Path]:
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
            for path in asyncio.run(take(f"http://127.0.0.1:{port}", args.out)):
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
