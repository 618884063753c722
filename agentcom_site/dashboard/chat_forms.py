"""The dashboard's message forms: what an operator types, checked by the API's own
schemas (`messaging.schemas`) before it reaches the messaging services."""

from typing import Any

from django import forms

from agentcom_site.core.errors import ValidationFailed
from agentcom_site.core.validation import LIMITS, validate
from messaging.schemas import ChannelIn, MessageIn, PublishIn


class ChatForm(forms.Form):
    text = forms.CharField(
        max_length=LIMITS["chat_text"],
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Write a message"}),
    )

    def payload(self) -> dict[str, Any]:
        return {"text": self.cleaned_data["text"]}

    def checked(self, schema: type, body: dict[str, Any]) -> Any:
        """`body` parsed by the API's schema, or None with the refusal on the form."""
        try:
            return validate(schema, body)
        except ValidationFailed as refusal:
            for problem in refusal.problems:
                self.add_error("text", problem.detail)
            return None

    def publication(self) -> PublishIn | None:
        return self.checked(PublishIn, {"payload": self.payload()})

    def direct_message(self, agent_id: str) -> MessageIn | None:
        return self.checked(MessageIn, {"to": agent_id, "payload": self.payload()})


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=LIMITS["channel"] + 1)  # an optional leading #
    description = forms.CharField(max_length=LIMITS["channel_description"], required=False)

    def channel(self) -> ChannelIn | None:
        body = {"name": self.cleaned_data["name"], "description": self.cleaned_data["description"]}
        try:
            return validate(ChannelIn, body)
        except ValidationFailed as refusal:
            for problem in refusal.problems:
                self.add_error("name" if problem.field == "name" else None, problem.detail)
            return None
