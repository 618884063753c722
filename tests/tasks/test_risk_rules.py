"""The risk tier rules (tasks/risk.py): pure functions of a diff's shape and the settings."""

import pytest

from tasks.risk import Rules, classify, glob_match
from tasks.schemas import DiffShape

RULES = Rules(
    tier1_max_lines=50,
    tier3_min_lines=500,
    sensitive_paths=(".github/**", "**/settings.py"),
    low_risk_paths=("tests/**", "**/test_*.py", "docs/**", "**/*.md"),
)


def shape(paths: list[str], added: int = 5, removed: int = 1, **extra) -> DiffShape:
    return DiffShape(
        files_changed=extra.pop("files_changed", len(paths)),
        lines_added=added,
        lines_removed=removed,
        paths=paths,
        **extra,
    )


def test_a_small_change_to_tests_and_documents_is_tier_1():
    risk = classify(shape(["tests/test_cart.py", "README.md", "docs/a/b.rst"]), RULES)
    assert risk.tier == 1
    assert risk.reasons == ["small change (3 files, +5 -1), only tests and documents"]


def test_a_small_change_to_code_is_tier_2():
    risk = classify(shape(["src/cart.py", "tests/test_cart.py"]), RULES)
    assert (risk.tier, risk.reasons) == (2, ["code changed (2 files, +5 -1)"])


def test_many_lines_of_tests_are_tier_2():
    assert classify(shape(["tests/test_cart.py"], added=60), RULES).tier == 2


def test_a_cut_path_list_is_never_tier_1():
    cut = shape(["tests/test_a.py"], files_changed=300, paths_truncated=True)
    assert classify(cut, RULES).tier == 2


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (shape(["src/a.py"], added=499, removed=1), "large change: 500 lines"),
        (
            shape(["requirements.txt"], dependency_files=["requirements.txt"]),
            "dependency files changed: requirements.txt",
        ),
        (
            shape(["shop/migrations/0002_x.py"], migrations_touched=["shop/migrations/0002_x.py"]),
            "migrations changed: shop/migrations/0002_x.py",
        ),
        (shape([".github/workflows/ci.yml"]), "sensitive paths changed: .github/workflows/ci.yml"),
        (shape(["settings.py"]), "sensitive paths changed: settings.py"),
    ],
)
def test_size_dependencies_migrations_and_sensitive_paths_are_tier_3(change, reason):
    risk = classify(change, RULES)
    assert risk.tier == 3
    assert risk.reasons[0].startswith(reason)


def test_every_tier_3_reason_is_given_and_long_lists_are_cut():
    paths = [f"pkg{n}/migrations/0001.py" for n in range(8)]
    risk = classify(
        shape(paths, added=900, migrations_touched=paths, dependency_files=["go.mod"]), RULES
    )
    assert risk.tier == 3 and len(risk.reasons) == 3
    assert risk.reasons[2].endswith("pkg4/migrations/0001.py and 3 more")


def test_the_thresholds_come_from_settings(settings):
    settings.AGENTCOM_RISK_TIER1_MAX_LINES = 2
    settings.AGENTCOM_RISK_SENSITIVE_PATHS = ["billing/**"]
    rules = Rules.from_settings()
    assert classify(shape(["docs/x.md"], added=3), rules).tier == 2
    assert classify(shape(["billing/charge.py"]), rules).tier == 3


def test_a_leading_double_star_may_match_no_directory():
    assert glob_match("README.md", "**/*.md")
    assert glob_match("a/b/README.md", "**/*.md")
    assert glob_match("tests/deep/x.py", "tests/*")
    assert not glob_match("src/tests.py", "tests/**")
