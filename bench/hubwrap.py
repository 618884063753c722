"""Exec a hub command with the open-files limit raised to the hard limit.

    python bench/hubwrap.py <program> [args...]

`exec` keeps the process id, so the bench reads /proc/<pid> of the real hub process
and a profiler attaches to it directly.
"""

import os
import resource
import sys


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
    os.execvp(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
