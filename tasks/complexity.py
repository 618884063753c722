"""How much a task asks for, when its submitter did not say (PROTOCOL.md §4.5).

A deterministic rule, so the same task always gets the same answer and the reason
explains it. A task starts at 1 point, and points are added up:

- text (description + success criteria): 1 point per full 1000 characters, at most 4;
- file hints: 1 point from 4 hints, 2 from 11;
- verification steps: 1 point from 3 steps, 2 from 6;
- words that signal breadth (refactor, migrate, architecture, redesign, rewrite,
  security, concurrency, across, end-to-end, performance): 2 points if any occurs;
- words that signal a small change (typo, rename, bump, comment, readme, docstring,
  spelling, format): -1 point if any occurs and no breadth word does.

0 points or fewer is `trivial`, 1-3 `standard`, 4 or more `complex`.
"""

import re

TRIVIAL, STANDARD, COMPLEX = "trivial", "standard", "complex"
LEVELS = (TRIVIAL, STANDARD, COMPLEX)

BROAD_WORDS = (
    "refactor",
    "migrate",
    "architecture",
    "redesign",
    "rewrite",
    "security",
    "concurrency",
    "across",
    "end-to-end",
    "performance",
)
SMALL_WORDS = ("typo", "rename", "bump", "comment", "readme", "docstring", "spelling", "format")
_WORD = re.compile(r"[a-z][a-z-]*")


def estimate(
    description: str,
    success_criteria: str = "",
    file_hints: int = 0,
    verification_steps: int = 0,
) -> tuple[str, str]:
    """(level, reason): the rule above applied to the task's text and counts."""
    text = f"{description}\n{success_criteria}"
    points = 1
    said = []
    length_points = min(len(text.strip()) // 1000, 4)
    if length_points:
        points += length_points
        said.append(f"{len(text.strip())} characters of text (+{length_points})")
    hint_points = 2 if file_hints >= 11 else 1 if file_hints >= 4 else 0
    if hint_points:
        points += hint_points
        said.append(f"{file_hints} file hints (+{hint_points})")
    step_points = 2 if verification_steps >= 6 else 1 if verification_steps >= 3 else 0
    if step_points:
        points += step_points
        said.append(f"{verification_steps} verification steps (+{step_points})")
    words = set(_WORD.findall(text.lower()))
    broad = sorted(words.intersection(BROAD_WORDS))
    small = sorted(words.intersection(SMALL_WORDS))
    if broad:
        points += 2
        said.append(f"mentions {', '.join(broad[:3])} (+2)")
    elif small:
        points -= 1
        said.append(f"mentions {', '.join(small[:3])} (-1)")
    level = TRIVIAL if points <= 0 else STANDARD if points <= 3 else COMPLEX
    because = "; ".join(["1 to start", *said]) if said else "1 to start, nothing added"
    unit = "point" if abs(points) == 1 else "points"
    return level, f"estimated {level} ({points} {unit}): {because}"
