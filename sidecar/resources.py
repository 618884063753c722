"""What this machine reports to the hub: `resource_report` (PROTOCOL.md §2.3).

Standard library only: CPU from two readings of /proc/stat, RAM from /proc/meminfo,
the load from os.getloadavg(), GPU memory from `nvidia-smi` when it is installed
(bounded by a timeout). Reading runs in a worker thread, never on the event loop.
A figure that cannot be read is left out; a report without CPU or RAM is not sent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

PROC_STAT = Path("/proc/stat")
PROC_MEMINFO = Path("/proc/meminfo")
NVIDIA_SMI_TIMEOUT_S = 5
MIB = 1024 * 1024
KIB = 1024


def cpu_times(stat_text: str) -> tuple[int, int] | None:
    """(busy, total) jiffies from the `cpu` line of /proc/stat."""
    for line in stat_text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            values = [int(v) for v in parts[1:] if v.isdigit()]
            if len(values) < 4:
                return None
            idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
            total = sum(values[:8])  # guest time is already inside user and nice
            return total - idle, total
    return None


def memory(meminfo_text: str) -> tuple[int, int] | None:
    """(used, total) bytes: total minus MemAvailable, as `free` counts it."""
    fields: dict[str, int] = {}
    for line in meminfo_text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0]) * KIB
    total = fields.get("MemTotal")
    available = fields.get("MemAvailable", fields.get("MemFree"))
    if total is None or available is None:
        return None
    return max(total - available, 0), total


def gpu_memory(output: str) -> tuple[int, int] | None:
    """(used, total) bytes summed over GPUs, from
    `nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader,nounits` (MiB)."""
    used = total = 0
    seen = False
    for line in output.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            continue
        used += int(parts[0]) * MIB
        total += int(parts[1]) * MIB
        seen = True
    return (min(used, total), total) if seen else None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _nvidia_smi() -> str:
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return ""
    try:
        done = subprocess.run(
            [
                binary,
                "--query-gpu=memory.used,memory.total",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


class ResourceProbe:
    """Reads the machine; CPU use is measured between one reading and the next."""

    def __init__(self, *, stat_path: Path = PROC_STAT, meminfo_path: Path = PROC_MEMINFO) -> None:
        self._stat_path = stat_path
        self._meminfo_path = meminfo_path
        self._last_cpu = cpu_times(_read(stat_path))

    def cpu_percent(self) -> float | None:
        """Busy share since the last reading (since boot when no time has passed)."""
        now = cpu_times(_read(self._stat_path))
        last, self._last_cpu = self._last_cpu, now
        if now is None or now[1] <= 0:
            return None
        if last is None or now[1] <= last[1]:
            last = (0, 0)
        busy = (now[0] - last[0]) / (now[1] - last[1]) * 100
        return round(min(max(busy, 0.0), 100.0), 1)

    def report(self) -> dict[str, Any] | None:
        """The `resource_report` frame, or None when CPU or RAM cannot be read. Blocking."""
        cpu = self.cpu_percent()
        ram = memory(_read(self._meminfo_path))
        if cpu is None or ram is None:
            return None
        frame: dict[str, Any] = {
            "type": "resource_report",
            "cpu_percent": cpu,
            "ram_used_bytes": ram[0],
            "ram_total_bytes": ram[1],
        }
        try:
            frame["load_1m"] = round(os.getloadavg()[0], 2)
        except OSError:
            pass
        vram = gpu_memory(_nvidia_smi())
        if vram is not None:
            frame["vram_used_bytes"], frame["vram_total_bytes"] = vram
        return frame
