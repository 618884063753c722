"""Wake template substitution must match the Node.js sidecar character for character."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from sidecar.template import substitute_wake_template, task_json

TASK = {
    "task_id": "task-3f9a0c1d2e4b5a67",
    "description": 'Fix "flaky" test in C:\\src\\app; costs $5',
    "metadata": {"k": 1},
    "status": "waking",
    "assigned_at": 1767225600000,
    "generation": 1,
    "wake_attempts": 0,
}


def test_every_occurrence_is_replaced():
    command = substitute_wake_template("a ${TASK_ID} b ${TASK_ID}", TASK)

    assert command == "a task-3f9a0c1d2e4b5a67 b task-3f9a0c1d2e4b5a67"


def test_description_quotes_are_escaped_and_backslashes_and_dollars_kept():
    command = substitute_wake_template('run "${TASK_DESCRIPTION}"', TASK)

    assert command == 'run "Fix \\"flaky\\" test in C:\\src\\app; costs $5"'


def test_task_json_is_compact_with_quotes_escaped():
    command = substitute_wake_template("${TASK_JSON}", {"task_id": "t", "metadata": {"a": "b"}})

    assert command == '{\\"task_id\\":\\"t\\",\\"metadata\\":{\\"a\\":\\"b\\"}}'


def test_missing_values_become_empty():
    assert substitute_wake_template("[${TASK_ID}][${TASK_DESCRIPTION}]", {}) == "[][]"


def test_unknown_placeholders_and_shell_variables_are_untouched():
    command = substitute_wake_template("$HOME ${OTHER} ${TASK_ID}", {"task_id": "t"})

    assert command == "$HOME ${OTHER} t"


def test_javascript_replacement_patterns_behave_as_in_node():
    # String.prototype.replace expands $$, $& and $` in the inserted value.
    task = {"task_id": "t", "description": "a$$b $& $1"}

    assert substitute_wake_template("x ${TASK_DESCRIPTION}", task) == "x a$b ${TASK_DESCRIPTION} $1"


def test_task_json_matches_json_stringify_spacing():
    assert task_json({"a": [1, 2], "b": "é"}) == '{"a":[1,2],"b":"é"}'


NODE_REFERENCE = r"""
const [template, taskJson] = process.argv.slice(1);
const task = JSON.parse(taskJson);
process.stdout.write(template
  .replace(/\$\{TASK_ID\}/g, task.task_id || '')
  .replace(/\$\{TASK_JSON\}/g, JSON.stringify(task).replace(/"/g, '\\"'))
  .replace(/\$\{TASK_DESCRIPTION\}/g, (task.description || '').replace(/"/g, '\\"')));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize(
    ("template", "description"),
    [
        ('openclaw agent --message "Task: ${TASK_JSON}" --session-id ${TASK_ID}', "say hi"),
        ('do "${TASK_DESCRIPTION}" ${TASK_DESCRIPTION}', 'quote " back \\ dollar $HOME'),
        ("${TASK_DESCRIPTION}|${TASK_ID}", "patterns $$ $& $` $' $1 $<n> end$"),
        ("${TASK_JSON} ${TASK_DESCRIPTION}", "nested ${TASK_DESCRIPTION} ${TASK_ID} ünï"),
        ("plain text", ""),
    ],
)
def test_output_equals_the_node_implementation(template, description):
    task = {**TASK, "description": description}

    node = subprocess.run(
        ["node", "-e", NODE_REFERENCE, template, json.dumps(task)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )

    assert substitute_wake_template(template, task) == node.stdout
