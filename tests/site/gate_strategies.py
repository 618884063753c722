"""Hypothesis strategies for the gate's property tests: valid-shaped bodies and frames,
and hostile mutations written as raw JSON text (NaN, lone surrogates, depth are not
things `json.dumps` would produce on its own)."""

import json
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "default",
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# HYPOTHESIS_PROFILE=long: the documented search (docs/SECURITY.md), ≥ 10 000 cases.
settings.register_profile("long", parent=settings.get_profile("default"), max_examples=450)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

HOLE = "\u2063hole\u2063"  # replaced by raw JSON text after serialising

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
ids = st.sampled_from(["alpha", "beta", "gcu-sleeper", "Agent.7_x", "a" * 64]) | st.text(
    max_size=70
)
channels = st.sampled_from(["news", "#News", "dev-talk", "x" * 64]) | st.text(max_size=70)
texts = st.text(max_size=40)
counters = st.integers(min_value=-5, max_value=2**64) | st.sampled_from(
    [0, 1, 2**53 - 1, 2**53, 2**63]
)
times = st.integers(min_value=-(2**63), max_value=2**65) | st.just(1_900_000_000_000)
priorities = st.sampled_from(["urgent", "HIGH", "critical", "low", 0, 3, 4, "bogus"])


def body(**fields: st.SearchStrategy) -> st.SearchStrategy[dict[str, Any]]:
    """An object whose every field may be there or not."""
    return st.fixed_dictionaries({}, optional=fields)


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


# Raw JSON text a hostile peer may send in place of any value.
hostile_text = st.one_of(
    st.sampled_from(
        [
            "NaN",
            "Infinity",
            "-Infinity",
            "1e400",
            "-1e999",
            "9223372036854775808",
            "-9223372036854775809",
            "1" * 400,
            '"\\u0000"',
            '"a\\u0000b"',
            '"\\udcff"',
            '"\\ud800x"',
            '{"\\u0000": 1}',
            '{"\\udfff": 1}',
            '"\\u202egnp.exe"',
            '"\\u200b"',
            '"\\ufeff"',
            "[]",
            "{}",
            "true",
            '"' + "x" * 300_000 + '"',
        ]
    ),
    st.integers(min_value=30, max_value=3_000).map(deep),
    json_values.map(json.dumps),
)


@st.composite
def mutated(draw: st.DrawFn, shape: st.SearchStrategy[dict[str, Any]]) -> str:
    """JSON text: the valid-shaped object as is, or with one field dropped, added or
    replaced by hostile raw text, or wholly replaced by it."""
    obj = dict(draw(shape))
    how = draw(st.sampled_from(["as_is", "drop", "extra", "replace", "replace", "whole"]))
    if how == "whole":
        return draw(hostile_text)
    if how == "drop" and obj:
        obj.pop(draw(st.sampled_from(sorted(obj))))
    elif how == "extra":
        obj[draw(st.text(max_size=8))] = HOLE
    elif how == "replace" and obj:
        obj[draw(st.sampled_from(sorted(obj)))] = HOLE
    text = json.dumps(obj)
    return text.replace(json.dumps(HOLE), draw(hostile_text), 1)


# --- what a task says "done" means, and what a result cost -------------------------------

# Near-misses of every rule beside well-formed values, so the search meets both sides.
git_texts = texts | st.sampled_from(
    [
        "shop",
        "acme/shop",
        "https://github.com/acme/shop.git",
        "git@github.com:acme/shop.git",
        "ssh://git@host:22/a/b",
        "ext::sh -c id",
        "-uhttps://x/y",
        "file:///etc/passwd",
        "https://u:p@h/x",
        "main",
        "release/2.1",
        "a..b",
        "-f",
        "x.lock",
        "a b",
        "x~1",
        "src/app.py",
        "../etc/passwd",
        "/abs",
        "a/../b",
        "C:/x",
        "a\\b",
        "docs/**",
        "tab\tin",
        "line\nbreak",
    ]
)
step_types = st.sampled_from(
    ["command_succeeds", "tests_pass", "file_exists", "git_clean", "diff_within", "rm_rf", 7, []]
)
timeouts = st.integers(min_value=-1, max_value=4000) | st.sampled_from([0, 1, 3600, 3601])
verification_steps = st.lists(
    body(
        command=texts | st.sampled_from(["pytest -q", "make\x1b", "   ", "x" * 2001]),
        timeout_s=timeouts,
        path=git_texts,
        paths=st.lists(git_texts, max_size=3),
    ).flatmap(lambda b: step_types.map(lambda kind: {"type": kind, **b})),
    max_size=3,
)
definition_fields = dict(
    repo=git_texts,
    branch=git_texts,
    file_hints=st.lists(git_texts, max_size=4),
    success_criteria=texts,
    verification_steps=verification_steps,
    max_verification_retries=st.integers(min_value=-1, max_value=12),
    complexity=st.sampled_from(["trivial", "standard", "complex", "huge", None, 1]),
)
cost_fields = dict(
    tokens_in=counters,
    tokens_out=counters,
    model=texts | st.sampled_from(["claude-sonnet-4", "gpt-5", "bad model", "m" * 129]),
    cost_usd=st.floats(allow_nan=False, allow_infinity=False) | counters,
    execution_ms=counters,
    iterations=counters,
    session_id=texts | st.sampled_from(["5f0c-11aa", "x" * 257]),
)

# What a holder reports back: verification attempts and the shape of its change.
report_steps = st.lists(
    body(
        index=counters,
        kind=st.sampled_from(["tests_pass", "git_clean", "rm_rf", 3]),
        label=texts | st.just("l" * 201),
        passed=st.booleans() | json_values,
        exit_code=st.integers(min_value=-300, max_value=300) | json_values,
        duration_ms=counters,
        output=texts | st.just("o" * 4001),
        truncated=st.booleans(),
    ),
    max_size=3,
)
verification_reports = st.lists(
    body(
        attempt=counters,
        passed=st.booleans(),
        steps=report_steps | json_values,
        finished_at=counters,
    ),
    max_size=13,
)
diff_paths = st.lists(git_texts, max_size=4) | json_values
diff_shapes = body(
    files_changed=counters,
    lines_added=counters,
    lines_removed=counters,
    paths=diff_paths,
    paths_truncated=st.booleans() | json_values,
    dependency_files=diff_paths,
    tests_touched=diff_paths,
    migrations_touched=diff_paths,
)
