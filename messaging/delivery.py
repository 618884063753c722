"""Committed messaging events become channel-layer work: pushes and group changes.

Runs as an `agentcom_site.core.events` listener, so nothing here happens before the change
it announces is committed (DESIGN.md rule 2). A direct or broadcast push that cannot be
handed to the recipient's socket is put in its mailbox instead of vanishing.
"""

import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

from agentcom_site.core import transport
from agentcom_site.core.events import Event, EventKind
from agents.push import push_message
from messaging import mailbox
from messaging.models import Message

log = logging.getLogger(__name__)


async def _push_each(targets: list[tuple[str, str]], frame: dict[str, Any]) -> list[str]:
    """Send `frame` to each (agent_id, socket); returns the agents it could not reach."""
    layer = get_channel_layer()
    missed = []
    for agent_id, socket in targets:
        try:
            await layer.send(socket, push_message(frame))
        except ChannelFull:
            log.warning("socket of %s is full; mailboxing message %s", agent_id, frame["id"])
            missed.append(agent_id)
        except Exception:
            log.exception("push of message %s to %s failed; mailboxing it", frame["id"], agent_id)
            missed.append(agent_id)
    return missed


def _mailbox_instead(message_pk: int, owners: list[str]) -> None:
    message = Message.objects.filter(pk=message_pk).first()
    if message is not None:
        mailbox.deposit(message, owners)


async def _route(data: dict[str, Any]) -> None:
    missed = await _push_each(data["targets"], data["frame"])
    if missed:
        await database_sync_to_async(_mailbox_instead)(data["message_pk"], missed)


async def _group_work(
    group: str,
    *,
    add: str = "",
    discard: str = "",
    frame: dict[str, Any] | None = None,
    exclude: str | None = None,
) -> None:
    layer = get_channel_layer()
    if add:
        await layer.group_add(group, add)
    if discard:
        await layer.group_discard(group, discard)
    if frame is not None:
        await layer.group_send(group, push_message(frame, exclude=exclude))


def on_event(event: Event) -> None:
    data = event.data
    if event.kind == EventKind.MESSAGE_ROUTED and data["targets"]:
        transport.hand_over(lambda: _route(data))
    elif event.kind == EventKind.CHANNEL_PUBLISHED:
        transport.hand_over(
            lambda: _group_work(data["group"], frame=data["frame"], exclude=event.agent_id),
            lane=transport.BROADCAST,
        )
    elif event.kind == EventKind.CHANNEL_SUBSCRIBED:
        transport.hand_over(
            lambda: _group_work(
                data["group"], add=data["socket"], frame=data["frame"], exclude=event.agent_id
            ),
            lane=transport.BROADCAST,
        )
    elif event.kind == EventKind.CHANNEL_UNSUBSCRIBED and data["socket"]:
        transport.hand_over(
            lambda: _group_work(data["group"], discard=data["socket"]), lane=transport.BROADCAST
        )
