"""`{% load chat %}`: the conversation pieces of the dashboard pages.

- `{% agent_conversation agent %}`: what operators and the agent said, and the form to
  send it a message (agent page);
- `message|said`: a message's words as (is_text, text): `payload.text` when it is a
  string, else the payload as indented JSON; the template escapes either;
- `message|from_operator`: whether a person sent it.
"""

import json

from django import template

from agentcom_site.core.auth import OPERATOR_PREFIX
from agentcom_site.dashboard.chat_forms import ChatForm
from messaging import selectors

register = template.Library()

CONVERSATION_SHOWN = 50


@register.inclusion_tag("dashboard/chat/agent_conversation.html", takes_context=True)
def agent_conversation(context, agent):
    return {
        "agent": agent,
        "conversation": selectors.conversation_with(agent.agent_id, limit=CONVERSATION_SHOWN),
        "form": ChatForm(),
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def said(message) -> tuple[bool, str]:
    payload = message.payload
    if isinstance(payload, dict) and isinstance(payload.get("text"), str):
        return True, payload["text"]
    return False, json.dumps(payload, indent=2, ensure_ascii=False)


@register.filter
def from_operator(message) -> bool:
    return message.sender.startswith(OPERATOR_PREFIX)
