"""The wake template's variables: what they hold and how they are made fit for exec."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.template import (
    ENVIRONMENT_VALUE_MAX_BYTES,
    TooLargeForEnvironment,
    environment_safe,
    task_json,
    template_variables,
)

TASK = {
    "task_id": "task-3f9a0c1d2e4b5a67",
    "description": 'Fix "flaky" test in C:\\src\\app; costs $5 $(rm -rf /)',
    "metadata": {"k": 1},
    "generation": 3,
}


def test_variables_hold_the_task_unescaped():
    variables = template_variables(TASK, Path("/s/tasks/t.json"))

    assert variables == {
        "TASK_ID": "task-3f9a0c1d2e4b5a67",
        "TASK_DESCRIPTION": TASK["description"],
        "TASK_JSON": task_json(TASK),
        "TASK_FILE": "/s/tasks/t.json",
        "TASK_GENERATION": "3",
    }


def test_missing_values_become_empty():
    variables = template_variables({}, Path("f"))

    assert (variables["TASK_ID"], variables["TASK_DESCRIPTION"]) == ("", "")


def test_task_json_matches_json_stringify_spacing():
    assert task_json({"a": [1, 2], "b": "é"}) == '{"a":[1,2],"b":"é"}'


def test_characters_no_environment_can_hold_are_replaced():
    safe = environment_safe({"TASK_DESCRIPTION": "a\x00b\ud800c"}, "")

    assert safe == {"TASK_DESCRIPTION": "a\ufffdb?c"}


def test_an_oversized_value_is_left_out_when_the_template_does_not_use_it():
    big = "x" * (ENVIRONMENT_VALUE_MAX_BYTES + 1)

    safe = environment_safe({"TASK_JSON": big, "TASK_ID": "t"}, 'agent "$AGENTCOM_TASK_FILE"')

    assert safe == {"TASK_ID": "t"}


@pytest.mark.parametrize("template", ['agent "${TASK_JSON}"', 'agent "$AGENTCOM_TASK_JSON"'])
def test_an_oversized_value_the_template_uses_is_refused(template):
    big = "é" * (ENVIRONMENT_VALUE_MAX_BYTES // 2 + 1)  # within the limit in characters only

    with pytest.raises(TooLargeForEnvironment, match="TASK_JSON is"):
        environment_safe({"TASK_JSON": big}, template)
