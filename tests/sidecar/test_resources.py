"""The sidecar's resource_report: what it reads, and when it sends it (and agent_restarting)."""

from __future__ import annotations

import signal
from pathlib import Path

from sidecar.resources import ResourceProbe, cpu_times, gpu_memory, memory
from tests.sidecar.harness import fast_config

STAT_BEFORE = "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0 0 0 0\n"
STAT_AFTER = "cpu  200 0 150 850 0 0 0 0 0 0\ncpu0 100 0 75 425 0 0 0 0 0 0\n"
MEMINFO = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    4000000 kB\n"


def test_cpu_is_the_busy_share_between_two_readings(tmp_path: Path):
    stat = tmp_path / "stat"
    meminfo = tmp_path / "meminfo"
    stat.write_text(STAT_BEFORE)
    meminfo.write_text(MEMINFO)
    probe = ResourceProbe(stat_path=stat, meminfo_path=meminfo)
    stat.write_text(STAT_AFTER)

    report = probe.report()

    # busy +150 of total +200 jiffies
    assert report is not None and report["cpu_percent"] == 75.0
    assert report["ram_total_bytes"] == 16000000 * 1024
    assert report["ram_used_bytes"] == (16000000 - 4000000) * 1024
    assert report["type"] == "resource_report"


def test_no_report_without_cpu_or_memory(tmp_path: Path):
    probe = ResourceProbe(stat_path=tmp_path / "missing", meminfo_path=tmp_path / "missing")
    assert probe.report() is None


def test_parsers_refuse_what_they_cannot_read():
    assert cpu_times("intr 1 2 3\n") is None
    assert memory("MemTotal: lots\n") is None
    assert gpu_memory("") is None
    assert gpu_memory("N/A, N/A\n") is None


def test_gpu_memory_sums_every_gpu_in_bytes():
    assert gpu_memory("1024, 8192\n512, 8192\n") == (1536 * 2**20, 16384 * 2**20)


def test_the_real_machine_can_be_read():
    probe = ResourceProbe()
    report = probe.report()
    assert report is not None
    assert 0 <= report["cpu_percent"] <= 100
    assert 0 < report["ram_used_bytes"] <= report["ram_total_bytes"]


async def test_the_report_follows_identify_and_repeats(hub, make_sidecar):
    config = fast_config(hub.url, resource_report_delay_ms=200, resource_report_interval_ms=300)
    make_sidecar(config).start()
    await hub.expect("identify")

    first = await hub.expect("resource_report", timeout=5)
    await hub.expect("resource_report", timeout=5)

    assert first["ram_total_bytes"] > 0 and 0 <= first["cpu_percent"] <= 100


async def test_sighup_says_agent_restarting_then_comes_back(hub, make_sidecar):
    sidecar = make_sidecar(fast_config(hub.url)).start()
    await hub.expect("identify")

    sidecar.signal(signal.SIGHUP)

    frame = await hub.expect("agent_restarting", timeout=5)
    assert frame["reason"] == "restart requested"
    await hub.expect("identify", timeout=10)  # the same process, started anew
    assert sidecar.process is not None and sidecar.process.poll() is None
