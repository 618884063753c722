"""Direct and broadcast routing (PROTOCOL.md §4.6).

A message is stored in the history, threaded and counted in one transaction, together
with a mailbox copy for every recipient that is offline. The pushes to the online
recipients are announced and sent only after that commit (`messaging.delivery`); a
push that cannot be sent falls back to the recipient's mailbox there.
"""

from typing import Any

from django.db import transaction

from agentcom_site.core.auth import OPERATOR_PREFIX
from agentcom_site.core.clock import now
from agentcom_site.core.errors import unknown_agent
from agentcom_site.core.events import EventKind, announce
from agents.models import Agent
from messaging import analytics, mailbox, threads, wire
from messaging.models import Message, MessageKind

BROADCAST = "broadcast"


def is_broadcast(to: str | None) -> bool:
    return to is None or to == BROADCAST


def send_message(
    *,
    sender: str,
    to: str | None,
    payload: dict[str, Any],
    message_type: str = "chat",
    reply_to: str | None = None,
) -> Message:
    """Route a message from `sender`.

    Direct (`to` an agent id): pushed if the recipient is online, else mailboxed; an id
    nobody registered is refused with `unknown_agent` before anything is stored.
    To a person (`to` `operator:<username>`): kept in the history for the dashboard,
    neither pushed nor mailboxed.
    Broadcast (`to` null or "broadcast"): pushed to every online agent, the sender
    included, and mailboxed once for every registered offline agent except the sender.
    Committed before any push is sent. `sender` is an agent id or, for a person,
    `operator:<username>` (which no agent id can spell: ids have no `:`).
    """
    broadcast = is_broadcast(to)
    to_operator = not broadcast and to.startswith(OPERATOR_PREFIX)
    with transaction.atomic():
        if to_operator:
            recipient_socket = ""  # a person reads it on the dashboard, nothing is pushed
        elif not broadcast:
            recipient = Agent.objects.filter(agent_id=to)
            recipient_socket = recipient.values_list("channel_name", flat=True).first()
            if recipient_socket is None:  # nobody registered it: no mailbox either
                raise unknown_agent(to)
        message = Message(
            kind=MessageKind.BROADCAST if broadcast else MessageKind.DIRECT,
            sender=sender,
            recipient="" if broadcast else to,
            message_type=message_type,
            payload=payload,
            reply_to=reply_to or "",
            created_at=now(),
        )
        message.thread_root = threads.root_for_new(message.id, reply_to)
        message.save()

        if broadcast:
            live = Agent.objects.exclude(channel_name="")
            online = list(live.values_list("agent_id", "channel_name"))
            offline = list(
                Agent.objects.filter(channel_name="")
                .exclude(agent_id=sender)
                .values_list("agent_id", flat=True)
            )
        elif to_operator:
            online, offline = [], []
        else:
            online = [(to, recipient_socket)] if recipient_socket else []
            offline = [] if recipient_socket else [to]

        mailbox.deposit(message, offline)
        analytics.record_traffic(
            sender=sender,
            recipients=[agent_id for agent_id, _ in online] + offline,
            moment=message.created_at,
        )
        # A message between an operator and an agent is announced even with nobody
        # online to push it to: the dashboard's conversation with the agent shows it.
        if online or to_operator or sender.startswith(OPERATOR_PREFIX):
            announce(
                EventKind.MESSAGE_ROUTED,
                agent_id=sender,
                message_pk=message.pk,
                frame=wire.message_push(message),
                targets=online,
                recipient=message.recipient,
            )
    return message
