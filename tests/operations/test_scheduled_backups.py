"""Scheduled backups: a running hub writes them on its sweep and keeps the newest few."""

import time

import pytest

from agentcom_site.operations import backup
from tests.e2e.harness import SCALED


def test_prune_keeps_the_newest_scheduled_backups_and_nothing_else(tmp_path):
    names = [f"agentcom-2026120{d}T000000Z.sqlite3" for d in range(1, 6)]
    for name in [*names, "hand-made.sqlite3"]:
        (tmp_path / name).write_bytes(b"x")
    gone = backup.prune(tmp_path, 3)
    assert sorted(p.name for p in gone) == names[:2]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names[2:], "hand-made.sqlite3"])


@pytest.mark.e2e
@pytest.mark.skipif(SCALED, reason="scheduled backups are for the embedded SQLite database")
def test_a_running_hub_takes_scheduled_backups_and_keeps_the_newest(tmp_path, start_hub):
    backups = tmp_path / "backups"
    start_hub(
        {
            "AGENTCOM_BACKUP_EVERY_S": "0.5",
            "AGENTCOM_BACKUP_KEEP": "2",
            "AGENTCOM_BACKUP_DIR": str(backups),
            "AGENTCOM_SWEEP_INTERVAL_S": "0.2",
        }
    )
    # Files on a disk announce nothing: look until the third one has come and gone.
    deadline = time.monotonic() + 30
    seen: set[str] = set()
    while time.monotonic() < deadline and len(seen) < 3:
        seen |= {p.name for p in backups.glob("agentcom-*.sqlite3")}
        time.sleep(0.1)
    assert len(seen) >= 3
    kept = sorted(backups.glob("agentcom-*.sqlite3"))
    assert 1 <= len(kept) <= 2
    assert backup.problem_with(kept[-1]) is None
