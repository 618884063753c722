"""Exec a hub command with the open-files limit raised to the hard limit.

    python bench/hubwrap.py <program> [args...]

`exec` keeps the process id, so the bench reads /proc/<pid> of the real hub process
and a profiler attaches to it directly. With `BENCH_DEFENCES=off` the program (a Python
interpreter) runs its arguments through `bench/defences_off.py` instead, which switches
the hub's defences off in that same process before it serves.
"""

import os
import resource
import sys

DEFENCES_SWITCH = "BENCH_DEFENCES"


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: hubwrap.py <program> [args...]")
    raise_nofile()
    argv = sys.argv[1:]
    if os.environ.get(DEFENCES_SWITCH) == "off":
        # Started from the repository root (the harness's cwd), so `-m` finds bench.
        argv = [argv[0], "-m", "bench.defences_off", *argv[1:]]
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
