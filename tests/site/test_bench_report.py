"""bench/report.py rewrites only the blocks it is asked for: results are not kept in git,
so a partial re-run must not wipe the figures of the scenarios it did not re-run."""

import sys

from bench import report

DOC = """hand-written
<!-- bench:table:start -->
the morning's table
<!-- bench:table:end -->
<!-- bench:profile:start -->
the old profile
<!-- bench:profile:end -->
"""


def run_report(tmp_path, monkeypatch, *args: str) -> str:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text(DOC)
    monkeypatch.setattr(report, "DOC", doc)
    monkeypatch.setattr(report, "RESULTS", tmp_path / "no-results")
    monkeypatch.setattr(report, "ensure_venv", lambda: None)
    monkeypatch.setattr(report, "profile_block", lambda: "the new profile\n")
    monkeypatch.setattr(report, "plots", lambda latest: [])
    monkeypatch.setattr(sys, "argv", ["report.py", *args])
    report.main()
    return doc.read_text()


def test_only_the_named_block_is_rewritten(tmp_path, monkeypatch):
    text = run_report(tmp_path, monkeypatch, "--only", "profile")
    assert "the morning's table" in text and "the new profile" in text
    assert "the old profile" not in text and text.startswith("hand-written")


def test_without_only_every_block_is_rewritten(tmp_path, monkeypatch):
    text = run_report(tmp_path, monkeypatch)
    assert "the morning's table" not in text and "the new profile" in text
