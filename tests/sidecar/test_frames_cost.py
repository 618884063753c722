"""A failed attempt's cost figures travel with task_failed, but only values the hub accepts."""

from hypothesis import given
from hypothesis import strategies as st

from sidecar.frames import attempt_cost, task_failed
from sidecar.localtask import LocalTask

TASK = LocalTask({"task_id": "task-1", "generation": 3})


def test_the_figures_of_a_failed_result_go_with_the_failure():
    result = {
        "status": "failed",
        "reason": "boom",
        "executor": "claude",
        "tokens_in": 1200,
        "tokens_out": 80,
        "tokens_used": 1280,
        "cost_usd": 0.042,
        "model": "claude-sonnet-4-5",
        "session_id": "c4a5b6c7-1111",
        "execution_ms": 5100,
    }
    frame = task_failed(TASK, "boom", result)
    assert frame == {
        "type": "task_failed",
        "task_id": "task-1",
        "generation": 3,
        "reason": "boom",
        "tokens_in": 1200,
        "tokens_out": 80,
        "execution_ms": 5100,
        "cost_usd": 0.042,
        "model": "claude-sonnet-4-5",
        "session_id": "c4a5b6c7-1111",
    }


def test_values_the_hub_would_refuse_are_left_out():
    bad = {
        "tokens_in": -1,
        "tokens_out": True,
        "execution_ms": 2**53,
        "iterations": 1.5,
        "cost_usd": float("nan"),
        "model": "--model",
        "session_id": "x" * 300,
    }
    assert attempt_cost(bad) == {}
    assert attempt_cost({"cost_usd": 1e7}) == {}


@given(
    st.dictionaries(
        st.sampled_from(["tokens_in", "cost_usd", "model", "session_id"]),
        st.one_of(st.integers(), st.floats(), st.text(), st.booleans(), st.none()),
    )
)
def test_whatever_a_result_holds_the_fields_kept_pass_the_hubs_rules(result):
    from tasks.costs import CostIn

    CostIn.model_validate(attempt_cost(result))  # raises if the hub would refuse it
