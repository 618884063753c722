"""A stand-in for Claude Code's CLI that really changes the checkout it runs in.

It reads the prompt on stdin, commits a change chosen by FAKE_CODER (below) and prints
a claude-shaped stream (`system` init, one `assistant` message, the `result`). Every
run appends its argv and prompt to FAKE_RECORD/runs.jsonl when FAKE_RECORD is set.

FAKE_CODER:
- `fix_on_retry`: status.txt says `broken` on a first run and `fixed` on a run that
  resumes its session (`--resume`, a verification retry);
- `never`: status.txt always says `broken`;
- `outside`: src/app.py and, outside what the task allows, config/settings.py;
- `docs`: a few lines of docs/guide.md (a tier 1 change);
- `deps`: a new requirements.txt pin (a tier 3 change).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SESSION = "7d1c5e0a-3b2f-4c8e-9a61-2f0c3e8b6a55"
MODEL = "claude-sonnet-4-5-20250929"


def write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")
    subprocess.run(["git", "add", path], check=True)


def change(mode: str, resumed: bool) -> None:
    if mode == "fix_on_retry":
        write("status.txt", "fixed\n" if resumed else "broken\n")
    elif mode == "never":
        write("status.txt", "broken\n")
    elif mode == "outside":
        write("src/app.py", "print('hello')\n")
        write("config/settings.py", "DEBUG = True\n")
    elif mode == "docs":
        write("docs/guide.md", "# Guide\n\nHow to use it.\n")
    elif mode == "deps":
        write("requirements.txt", "requests==2.32.3\n")
    subprocess.run(["git", "commit", "--quiet", "--allow-empty", "-m", f"fix: {mode}"], check=True)


def emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main() -> int:
    prompt = sys.stdin.read()
    argv = sys.argv[1:]
    record = os.environ.get("FAKE_RECORD")
    if record:
        with Path(record, "runs.jsonl").open("a", encoding="utf-8") as runs:
            runs.write(json.dumps({"argv": argv, "stdin": prompt, "cwd": os.getcwd()}) + "\n")
    emit({"type": "system", "subtype": "init", "session_id": SESSION, "model": MODEL})
    change(os.environ.get("FAKE_CODER", "fix_on_retry"), "--resume" in argv)
    usage = {"input_tokens": 120, "output_tokens": 30}
    emit(
        {
            "type": "assistant",
            "session_id": SESSION,
            "message": {
                "id": "msg_1",
                "model": MODEL,
                "content": [{"type": "text", "text": "Changed the checkout."}],
                "usage": usage,
            },
        }
    )
    emit(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "result": "Changed the checkout.",
            "session_id": SESSION,
            "num_turns": 1,
            "duration_ms": 40,
            "total_cost_usd": 0.01,
            "usage": usage,
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
