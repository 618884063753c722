"""The dashboard's task form: checked by the API's own schema, then sent to `tasks.queue`."""

import json
from typing import Any

from django import forms

from agentcom_site.core.clock import now, to_ms
from agentcom_site.core.errors import ValidationFailed
from agentcom_site.core.validation import LIMITS, validate
from agents.selectors import agents_by_id
from tasks.schemas import TaskSubmitIn

PRIORITIES = [("urgent", "Urgent"), ("high", "High"), ("normal", "Normal"), ("low", "Low")]
# Form field for each TaskSubmitIn field, so the schema's errors land on the right input.
FIELD_FOR = {
    "description": "description",
    "title": "title",
    "priority": "priority",
    "max_retries": "max_retries",
    "complete_by": "deadline",
    "needed_capabilities": "capabilities",
    "assign_to": "pin_to",
    "repo": "repo",
    "branch": "branch",
    "file_hints": "file_hints",
    "success_criteria": "success_criteria",
    "verification_steps": "verification_steps",
    "max_verification_retries": "max_verification_retries",
    "complexity": "complexity",
}
COMPLEXITIES = [
    ("", "let the hub estimate it"),
    ("trivial", "Trivial"),
    ("standard", "Standard"),
    ("complex", "Complex"),
]
STEPS_EXAMPLE = '[{"type": "tests_pass", "command": "pytest -q"}, {"type": "git_clean"}]'


class TaskForm(forms.Form):
    title = forms.CharField(max_length=LIMITS["title"], required=False)
    description = forms.CharField(
        max_length=LIMITS["description"], widget=forms.Textarea(attrs={"rows": 6})
    )
    priority = forms.ChoiceField(choices=PRIORITIES, initial="normal")
    capabilities = forms.CharField(
        required=False,
        help_text="Comma-separated, e.g. code, python",
        max_length=2000,
        widget=forms.TextInput(attrs={"list": "capability-suggestions", "autocomplete": "off"}),
    )
    deadline = forms.DateTimeField(
        required=False,
        help_text="UTC. A task still unfinished then fails with deadline_exceeded.",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    pin_to = forms.ModelChoiceField(
        queryset=agents_by_id(),
        to_field_name="agent_id",
        required=False,
        empty_label="any fitting agent",
        help_text="Only this agent will be offered the task.",
    )
    max_retries = forms.IntegerField(min_value=0, max_value=100, initial=3)
    # What done means (PROTOCOL.md §4.5); the schema checks every value.
    repo = forms.CharField(
        required=False, max_length=LIMITS["repo"], help_text="A repo name or a git URL."
    )
    branch = forms.CharField(
        required=False, max_length=LIMITS["branch"], help_text="Base branch; empty: the repo's."
    )
    file_hints = forms.CharField(
        required=False,
        max_length=60_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Paths worth reading first, one a line, relative to the repo.",
    )
    success_criteria = forms.CharField(
        required=False,
        max_length=LIMITS["success_criteria"],
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    verification_steps = forms.CharField(
        required=False,
        max_length=60_000,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": STEPS_EXAMPLE}),
        help_text="A JSON list of steps: command_succeeds, tests_pass, file_exists, "
        "git_clean, diff_within (see the API docs).",
    )
    max_verification_retries = forms.IntegerField(
        min_value=0, max_value=10, initial=2, required=False
    )
    complexity = forms.ChoiceField(choices=COMPLEXITIES, required=False)

    def clean_verification_steps(self):
        raw = (self.cleaned_data.get("verification_steps") or "").strip()
        if not raw:
            return []
        try:
            steps = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from None
        if not isinstance(steps, list):
            raise forms.ValidationError("A JSON list of steps, e.g. " + STEPS_EXAMPLE)
        return steps

    def clean_deadline(self):
        deadline = self.cleaned_data.get("deadline")
        if deadline is not None and deadline <= now():
            raise forms.ValidationError("The deadline has already passed.")
        return deadline

    @staticmethod
    def _definition(data: dict[str, Any]) -> dict[str, Any]:
        """The definition-of-done fields as the API takes them; empty ones left out."""
        fields: dict[str, Any] = {
            "file_hints": [
                line.strip() for line in (data.get("file_hints") or "").splitlines() if line.strip()
            ],
            "verification_steps": data.get("verification_steps") or [],
        }
        if data.get("max_verification_retries") is not None:
            fields["max_verification_retries"] = data["max_verification_retries"]
        for name in ("repo", "branch", "success_criteria", "complexity"):
            if data.get(name):
                fields[name] = data[name]
        return fields

    def submission(self) -> TaskSubmitIn | None:
        """The request body the API would receive, parsed by the API's own schema.

        Returns None (with the problems added to the form) when the schema refuses it.
        """
        data = self.cleaned_data
        body: dict[str, Any] = {
            "description": data["description"],
            "priority": data["priority"],
            "max_retries": data["max_retries"],
            "needed_capabilities": [
                c.strip() for c in (data.get("capabilities") or "").split(",") if c.strip()
            ],
        }
        if data.get("title"):
            body["title"] = data["title"]
        if data.get("deadline") is not None:
            body["complete_by"] = to_ms(data["deadline"])
        if data.get("pin_to") is not None:
            body["assign_to"] = data["pin_to"].agent_id
        body |= self._definition(data)
        try:
            return validate(TaskSubmitIn, body)
        except ValidationFailed as refusal:
            for problem in refusal.problems:
                root = (problem.field or "").split(".")[0].split("[")[0]
                self.add_error(FIELD_FOR.get(root), problem.detail)
            return None
