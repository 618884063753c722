"""Threads: a message replying to a known message joins that message's thread.

Each message stores the id of its thread's root when it is created, so reading a thread
is one indexed query. Finding a root walks the reply chain with that stored root as a
shortcut and a visited set, so rows edited by hand into a loop still end the walk.
"""

from django.db.models import QuerySet

from agentcom_site.core.errors import not_found
from messaging.models import Message
from messaging.selectors import readable_by

MAX_STEPS = 1_000  # a bound on the walk even if the chain were corrupted


def root_of(message_id: str) -> str:
    """The id at the top of the reply chain that contains `message_id` (itself if none)."""
    current = message_id
    seen = {current}
    for _ in range(MAX_STEPS):
        row = Message.objects.filter(id=current).values_list("reply_to", "thread_root").first()
        if row is None:
            return current
        reply_to, stored_root = row
        if stored_root and stored_root not in seen and _exists(stored_root):
            step = stored_root
        elif reply_to and reply_to not in seen and _exists(reply_to):
            step = reply_to
        else:
            return current
        seen.add(step)
        current = step
    return current


def _exists(message_id: str) -> bool:
    return Message.objects.filter(id=message_id).exists()


def root_for_new(message_id: str, reply_to: str | None) -> str:
    """The thread root a new message gets: its parent's if the parent is known."""
    if reply_to and _exists(reply_to):
        return root_of(reply_to)
    return message_id


def get_message(message_id: str, *, reader: str | None = None) -> Message:
    """The message, if `reader` (an agent id; None = an operator) may read it; else 404,
    the same answer as for a message that does not exist."""
    readable = readable_by(Message.objects.select_related("channel"), reader)
    message = readable.filter(id=message_id).first()
    if message is None:
        raise not_found("message_not_found", f"no message {message_id}", message_id=message_id)
    return message


def thread(message_id: str, *, reader: str | None = None) -> tuple[str, QuerySet[Message]]:
    """(root id, the thread's messages `reader` may read); 404 for an unknown message."""
    get_message(message_id, reader=reader)
    root = root_of(message_id)
    messages = Message.objects.select_related("channel").filter(thread_root=root)
    return root, readable_by(messages, reader)


def replies(message_id: str, *, reader: str | None = None) -> QuerySet[Message]:
    """Direct replies to a known message that `reader` may read."""
    get_message(message_id, reader=reader)
    messages = Message.objects.select_related("channel").filter(reply_to=message_id)
    return readable_by(messages, reader)
