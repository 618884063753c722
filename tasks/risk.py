"""Risk tiers of a change (PROTOCOL.md §3.2): pure rules over the diff's shape.

The holder's sidecar measures its change against the task's base commit and sends the
shape in `task_classify`; `tasks.queue.classify_task` stores what `classify` decides.
The rules, in order (settings in DESIGN.md "Settings"):

- tier 3: at least AGENTCOM_RISK_TIER3_MIN_LINES lines changed (added + removed), or a
  dependency file, a migration, or a path matching AGENTCOM_RISK_SENSITIVE_PATHS;
- tier 1: at most AGENTCOM_RISK_TIER1_MAX_LINES lines, every path known (the list was
  not cut) and every one a test or a document (AGENTCOM_RISK_LOW_RISK_PATHS);
- tier 2: everything else.

A tier is advice for the reviewer: nothing is ever merged because of it.
"""

from dataclasses import dataclass
from fnmatch import fnmatchcase

from django.conf import settings

from tasks.schemas import DiffShape

REASONS_SHOWN = 5  # paths named in one reason


@dataclass(frozen=True)
class Rules:
    tier1_max_lines: int
    tier3_min_lines: int
    sensitive_paths: tuple[str, ...]
    low_risk_paths: tuple[str, ...]

    @classmethod
    def from_settings(cls) -> "Rules":
        return cls(
            tier1_max_lines=settings.AGENTCOM_RISK_TIER1_MAX_LINES,
            tier3_min_lines=settings.AGENTCOM_RISK_TIER3_MIN_LINES,
            sensitive_paths=tuple(settings.AGENTCOM_RISK_SENSITIVE_PATHS),
            low_risk_paths=tuple(settings.AGENTCOM_RISK_LOW_RISK_PATHS),
        )


@dataclass(frozen=True)
class Risk:
    tier: int
    reasons: list[str]


def glob_match(path: str, pattern: str) -> bool:
    """fnmatch, where `*` also crosses `/`; a leading `**/` may match nothing, so
    `**/*.md` matches `README.md` too."""
    if fnmatchcase(path, pattern):
        return True
    return pattern.startswith("**/") and fnmatchcase(path, pattern[3:])


def _named(paths: list[str]) -> str:
    shown = ", ".join(paths[:REASONS_SHOWN])
    more = len(paths) - REASONS_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def classify(shape: DiffShape, rules: Rules) -> Risk:
    """The tier of a change and the reasons for it, each a sentence for the reviewer."""
    lines = shape.lines_added + shape.lines_removed
    size = f"{shape.files_changed} files, +{shape.lines_added} -{shape.lines_removed}"
    high: list[str] = []
    if lines >= rules.tier3_min_lines:
        high.append(f"large change: {lines} lines (tier 3 from {rules.tier3_min_lines})")
    if shape.dependency_files:
        high.append(f"dependency files changed: {_named(shape.dependency_files)}")
    if shape.migrations_touched:
        high.append(f"migrations changed: {_named(shape.migrations_touched)}")
    sensitive = [p for p in shape.paths if any(glob_match(p, g) for g in rules.sensitive_paths)]
    if sensitive:
        high.append(f"sensitive paths changed: {_named(sensitive)}")
    if high:
        return Risk(3, high)
    complete = not shape.paths_truncated and len(shape.paths) >= shape.files_changed
    low = complete and all(any(glob_match(p, g) for g in rules.low_risk_paths) for p in shape.paths)
    if lines <= rules.tier1_max_lines and low:
        what = "no files" if not shape.paths else "only tests and documents"
        return Risk(1, [f"small change ({size}), {what}"])
    if not low:
        return Risk(2, [f"code changed ({size})"])
    return Risk(2, [f"tests and documents only, but {lines} lines ({size})"])
