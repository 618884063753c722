"""People in the conversation: channels and direct messages on the dashboard.

Thin views: an operator reads through `messaging.selectors` and writes through the same
services, rate budgets and schemas as `POST /api/channels/:ch/publish` and
`POST /api/message`, as `operator:<username>` (PROTOCOL.md §1). The pages stay current
over `/ws/dashboard` (`data-watch-channel`, `data-watch-agent` in `live.js`).
"""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from agentcom_site.core import ratelimit
from agentcom_site.core.auth import Principal, session_principal
from agentcom_site.core.errors import HubError
from agentcom_site.core.limits import COUNTER_MAX
from agentcom_site.core.validation import agent_id_ok
from agentcom_site.dashboard.chat_forms import ChannelForm, ChatForm
from agents.selectors import agent_named
from messaging import routing, selectors, topics
from messaging.schemas import DEFAULT_MESSAGE_TYPE

CHANNELS_SHOWN = 200
CHANNEL_PAGE = 50


def _operator(request: HttpRequest) -> Principal:
    principal = session_principal(request.user)
    if principal is None:  # staff_member_required lets only staff through; never here
        raise PermissionDenied
    return principal


def _refused(request: HttpRequest, form, what: str) -> None:
    problems = [str(error) for errors in form.errors.values() for error in errors]
    messages.error(request, f"{what}: {' '.join(problems) or 'refused'}")


def _back_to_channel(name: str) -> HttpResponse:
    """The channel's page after a refusal, or the list when there is no such channel."""
    try:
        return redirect("dashboard:channel", name=topics.get_channel(name).name)
    except HubError:
        return redirect("dashboard:channels")


def _back_to_agent(agent_id: str) -> HttpResponse:
    known = agent_named(agent_id) is not None if agent_id_ok(agent_id) else False
    return redirect("dashboard:agent", agent_id=agent_id) if known else redirect("dashboard:agents")


def _before(request: HttpRequest) -> int | None:
    """The `before` page parameter: a channel seq, anything else means the newest page."""
    raw = request.GET.get("before", "")
    if raw.isdecimal() and len(raw) <= 16 and 0 < int(raw) <= COUNTER_MAX:
        return int(raw)
    return None


@staff_member_required
def channel_list(request: HttpRequest) -> HttpResponse:
    form = ChannelForm(request.POST or None)
    if request.method == "POST":
        return _create_channel(request, form)
    return render(
        request,
        "dashboard/chat/channel_list.html",
        {"channels": selectors.channels_by_activity(CHANNELS_SHOWN), "form": form},
    )


def _create_channel(request: HttpRequest, form: ChannelForm) -> HttpResponse:
    body = form.channel() if form.is_valid() else None
    if body is None:
        _refused(request, form, "Channel not created")
        return redirect("dashboard:channels")
    operator = _operator(request)
    try:
        channel = topics.create_channel(
            name=body.name, description=body.description or "", created_by=operator.actor
        )
    except HubError as refusal:
        messages.error(request, f"Channel not created: {refusal.detail}")
        return redirect("dashboard:channels")
    messages.success(request, f"Channel #{channel.name} created.")
    return redirect("dashboard:channel", name=channel.name)


@staff_member_required
def channel_detail(request: HttpRequest, name: str) -> HttpResponse:
    try:
        channel = topics.get_channel(name)
    except HubError:
        raise Http404("no such channel") from None
    if channel.name != name:  # one address per channel: the normalised name
        return redirect("dashboard:channel", name=channel.name)
    page = selectors.channel_page(channel, before=_before(request), limit=CHANNEL_PAGE)
    oldest = page[0].channel_seq if page else None
    return render(
        request,
        "dashboard/chat/channel_detail.html",
        {
            "channel": channel,
            "page": page,
            "older": oldest if oldest is not None and oldest > 1 else None,
            "paged": _before(request) is not None,
            "subscribers": topics.subscriber_ids(channel),
            "form": ChatForm(),
        },
    )


@staff_member_required
@require_POST
def channel_post(request: HttpRequest, name: str) -> HttpResponse:
    form = ChatForm(request.POST)
    body = form.publication() if form.is_valid() else None
    if body is None:
        _refused(request, form, "Not posted")
        return _back_to_channel(name)
    operator = _operator(request)
    try:
        operator.charge(ratelimit.PUBLISH)
        message = topics.publish(
            name=name,
            sender=operator.actor,
            payload=body.payload,
            message_type=DEFAULT_MESSAGE_TYPE,
        )
    except HubError as refusal:
        messages.error(request, f"Not posted: {refusal.detail}")
        return _back_to_channel(name)
    return redirect("dashboard:channel", name=message.channel.name)


@staff_member_required
@require_POST
def agent_message(request: HttpRequest, agent_id: str) -> HttpResponse:
    form = ChatForm(request.POST)
    body = form.direct_message(agent_id) if form.is_valid() else None
    if body is None:
        _refused(request, form, "Not sent")
        return _back_to_agent(agent_id)
    operator = _operator(request)
    try:
        operator.charge(ratelimit.MESSAGE)
        routing.send_message(
            sender=operator.actor,
            to=body.to,
            payload=body.payload,
            message_type=DEFAULT_MESSAGE_TYPE,
        )
    except HubError as refusal:
        messages.error(request, f"Not sent: {refusal.detail}")
        return _back_to_agent(agent_id)
    messages.success(request, f"Message sent to {agent_id}.")
    return redirect("dashboard:agent", agent_id=agent_id)
