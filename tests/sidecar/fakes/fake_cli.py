"""A stand-in for a coding agent's CLI that replays a recorded JSON-lines stream.

Driven by the environment (the sidecar passes its own on to the executor):
FAKE_STREAM (the .jsonl file to replay, line by line, as written), FAKE_LINE_DELAY_S,
FAKE_REPEAT (assistant/user lines repeated this often: a long run), FAKE_HANG_S (silence
after the stream), FAKE_HUGE_LINE (bytes of one over-long line written after the
first line), FAKE_STDERR, FAKE_EXIT, FAKE_RECORD (a directory: each run appends its
argv, stdin, cwd and pid to runs.jsonl there).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    env = os.environ
    prompt = sys.stdin.read()
    record = env.get("FAKE_RECORD")
    if record:
        entry = {"argv": sys.argv[1:], "stdin": prompt, "cwd": os.getcwd(), "pid": os.getpid()}
        with Path(record, "runs.jsonl").open("a", encoding="utf-8") as runs:
            runs.write(json.dumps(entry) + "\n")
    delay = float(env.get("FAKE_LINE_DELAY_S", "0"))
    repeat = int(env.get("FAKE_REPEAT", "1"))
    lines = Path(env["FAKE_STREAM"]).read_text(encoding="utf-8").splitlines()
    out = sys.stdout
    for number, line in enumerate(lines):
        kind = line.split('"type":"', 1)[-1].split('"', 1)[0]
        times = repeat if kind in ("assistant", "user") else 1
        for _ in range(times):
            out.write(line + "\n")
            out.flush()
            time.sleep(delay)
        if number == 0 and env.get("FAKE_HUGE_LINE"):
            out.write('{"type":"assistant","pad":"' + "x" * int(env["FAKE_HUGE_LINE"]) + '"}\n')
            out.flush()
    time.sleep(float(env.get("FAKE_HANG_S", "0")))
    if env.get("FAKE_STDERR"):
        sys.stderr.write(env["FAKE_STDERR"] + "\n")
    return int(env.get("FAKE_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
