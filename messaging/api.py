"""Messaging routes (PROTOCOL.md §4.2): send, mailboxes, history and threads.

Thin views: validate, call one messaging operation, shape the answer. The channel,
config and analytics routes live beside this module and hang off the same router.
"""

from django.conf import settings
from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from agentcom_site.core import ratelimit
from agentcom_site.core.auth import (
    Principal,
    legacy_auth,
    require_operator,
    require_self,
)
from agentcom_site.core.limits import COUNTER_MAX
from agentcom_site.core.pages import within_budget
from agentcom_site.core.schemas import BODY_GUARD, refusals
from agentcom_site.core.validation import Recipient, TimeMs, check_agent_id
from messaging import mailbox, retention, routing, selectors, threads, topics, wire
from messaging.api_channels import router as channels_router
from messaging.api_config import router as config_router
from messaging.responses import (
    AckedOut,
    EvictionOut,
    MailboxOut,
    MessageHistoryOut,
    MessageSentOut,
    RepliesOut,
    ThreadOut,
    ThreadRootOut,
)
from messaging.schemas import DEFAULT_MESSAGE_TYPE, AckIn, MessageIn

MAILBOX_REFUSAL = "only the mailbox owner or an operator may use this mailbox"

# by_alias: a message's `from` is a Python keyword, so the schemas name it by alias;
# exclude_unset: a message carries `channel` only when it was published on one.
router = Router(tags=["messaging"], by_alias=True, exclude_unset=True)


def _reader(request: HttpRequest) -> str | None:
    """Whose reading rights apply: the calling agent's; None for an operator (everything)."""
    principal: Principal = request.auth
    return None if principal.is_operator else principal.name


router.add_router("", channels_router)
router.add_router("", config_router)


@router.post(
    "/message",
    response={200: MessageSentOut, **refusals(*BODY_GUARD, 401, 403, 404, 422)},
    summary="Send a direct or broadcast message",
)
def send(request: HttpRequest, body: MessageIn):
    principal: Principal = request.auth  # an agent, or an operator as `operator:<name>`
    principal.charge(ratelimit.BROADCAST if routing.is_broadcast(body.to) else ratelimit.MESSAGE)
    message = routing.send_message(
        sender=principal.actor,
        to=body.to,
        payload=body.payload,
        message_type=body.type or DEFAULT_MESSAGE_TYPE,
        reply_to=body.reply_to,
    )
    return {"status": "sent", "id": message.id}


# Registered before `/mailbox/{agent_id}` so the literal path wins.
@router.post(
    "/mailbox/evict",
    response={200: EvictionOut, **refusals(*BODY_GUARD, 401, 403)},
    summary="Run mailbox retention now (operator)",
)
def evict(request: HttpRequest):
    require_operator(request)
    retention.enforce_retention()
    return {"status": "eviction_triggered"}


class SinceQuery(Schema):
    since: int = Field(0, ge=0, le=COUNTER_MAX)


@router.get(
    "/mailbox/{agent_id}",
    auth=legacy_auth,
    response={200: MailboxOut, **refusals(401, 403, 422)},
    summary="Poll a mailbox",
)
def poll(request: HttpRequest, agent_id: str, query: Query[SinceQuery]):
    check_agent_id(agent_id)
    require_self(request, agent_id, refusal=MAILBOX_REFUSAL)
    result = mailbox.poll(agent_id, since=query.since)
    entries, more = within_budget(result.entries, lambda entry: entry.letter.payload)
    messages = [wire.mailbox_entry(e) for e in entries]
    return {
        "agent_id": agent_id,
        "messages": messages,
        "last_seq": entries[-1].seq if entries else result.last_seq,
        "count": len(messages),
        "more": more,
    }


@router.post(
    "/mailbox/{agent_id}/ack",
    auth=legacy_auth,
    response={200: AckedOut, **refusals(*BODY_GUARD, 401, 403, 422)},
    summary="Acknowledge a mailbox",
)
def ack(request: HttpRequest, agent_id: str, body: AckIn):
    check_agent_id(agent_id)
    require_self(request, agent_id, refusal=MAILBOX_REFUSAL)
    mailbox.ack(agent_id, up_to=body.seq)
    return {"status": "acked", "up_to": body.seq}


class HistoryQuery(Schema):
    sender: Recipient | None = Field(None, alias="from")  # operators too: operator:<name>
    to: Recipient | None = None
    channel: str | None = None
    start_time: TimeMs | None = None
    end_time: TimeMs | None = None
    cursor: int = Field(0, ge=0, le=COUNTER_MAX)
    limit: int = Field(50, ge=1, le=200)


@router.get(
    "/messages",
    auth=legacy_auth,
    response={200: MessageHistoryOut, **refusals(401, 422)},
    summary="Message history",
)
def history(request: HttpRequest, query: Query[HistoryQuery]):
    channel = topics.valid_name(query.channel) if query.channel is not None else None
    messages = selectors.message_history(
        reader=_reader(request),
        sender=query.sender,
        to=query.to,
        channel=channel,
        start_ms=query.start_time,
        end_ms=query.end_time,
        cursor=query.cursor,
        limit=query.limit,
    )
    page, more = within_budget(messages, lambda message: message.payload)
    items = [wire.history_item(m) for m in page]
    cursor = items[-1]["seq"] if items else query.cursor
    return {"messages": items, "cursor": cursor, "count": len(items), "more": more}


@router.get(
    "/threads/{message_id}",
    auth=legacy_auth,
    response={200: ThreadOut, **refusals(401, 404)},
    summary="A whole thread",
)
def thread(request: HttpRequest, message_id: str):
    root, messages = threads.thread(message_id, reader=_reader(request))
    items, more = _oldest_first_page(messages)
    return {"root": root, "messages": items, "count": len(items), "more": more}


@router.get(
    "/threads/{message_id}/replies",
    auth=legacy_auth,
    response={200: RepliesOut, **refusals(401, 404)},
    summary="Direct replies",
)
def replies(request: HttpRequest, message_id: str):
    items, more = _oldest_first_page(threads.replies(message_id, reader=_reader(request)))
    return {"parent": message_id, "replies": items, "count": len(items), "more": more}


def _oldest_first_page(messages) -> tuple[list[dict], bool]:
    """The first messages by seq, up to the list cap and the page's payload budget."""
    ordered = messages.order_by("seq")[: settings.AGENTCOM_LIST_MAX]
    page, more = within_budget(ordered, lambda message: message.payload)
    return [wire.message_view(m) for m in page], more


@router.get(
    "/threads/{message_id}/root",
    auth=legacy_auth,
    response={200: ThreadRootOut, **refusals(401, 404)},
    summary="Thread root",
)
def root(request: HttpRequest, message_id: str):
    threads.get_message(message_id, reader=_reader(request))
    return {"message_id": message_id, "root": threads.root_of(message_id)}
