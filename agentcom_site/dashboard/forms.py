"""The dashboard's task form: checked by the API's own schema, then sent to `tasks.queue`."""

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
}


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

    def clean_deadline(self):
        deadline = self.cleaned_data.get("deadline")
        if deadline is not None and deadline <= now():
            raise forms.ValidationError("The deadline has already passed.")
        return deadline

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
        try:
            return validate(TaskSubmitIn, body)
        except ValidationFailed as refusal:
            for problem in refusal.problems:
                root = (problem.field or "").split(".")[0].split("[")[0]
                self.add_error(FIELD_FOR.get(root), problem.detail)
            return None
