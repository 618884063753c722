"""`manage.py check_integrity`: exit 0 and one line on a sound database; each broken
invariant named, exit 1, on a deliberately broken one."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agentcom_site.core.clock import now
from agents.models import Agent, AgentState
from messaging import routing, topics
from messaging.models import Channel
from tasks import queue
from tasks.models import Task
from tests.conftest import assign

pytestmark = pytest.mark.django_db


def check() -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("check_integrity", stdout=out)
    except CommandError as failure:
        return 1, out.getvalue() + str(failure)
    return 0, out.getvalue()


@pytest.fixture
def busy_hub(make_agent, submit):
    """Work in every state, a channel with history, and letters in a mailbox."""
    worker = make_agent("worker", online=True)
    other = make_agent("other", online=True)
    done = assign(submit("finished").id, worker)
    queue.accept_task(done.id, worker, done.generation)
    queue.complete_task(done.id, worker, done.generation, result={"ok": True})
    held = assign(submit("in hand").id, worker)
    waiting = submit("waiting")
    topics.create_channel(name="builds", description="", created_by="worker")
    topics.publish(name="builds", sender="worker", payload={"n": 1})
    make_agent("away")
    routing.send_message(sender="worker", to="away", payload={"hi": 1})
    return {"worker": worker, "other": other, "held": held, "waiting": waiting, "done": done}


def test_a_sound_database_passes(busy_hub):
    status, report = check()
    assert (status, report) == (0, "integrity: every check passed\n"), report


def test_each_broken_invariant_is_named_and_fails_the_check(busy_hub, submit):
    worker, held, waiting = busy_hub["worker"], busy_hub["held"], busy_hub["waiting"]
    second = submit("second")
    # An agent holding two tasks, a queued task naming a holder, a count that drifted,
    # a channel cursor behind its history.
    Task.objects.filter(pk=second.pk).update(
        status="assigned", holder=worker, generation=1, event_count=2
    )
    Task.objects.filter(pk=waiting.pk).update(holder=busy_hub["other"])
    Task.objects.filter(pk=busy_hub["done"].pk).update(event_count=99)
    Channel.objects.filter(name="builds").update(last_seq=0)

    status, report = check()

    assert status == 1
    assert "agent_holds_two_tasks\tworker\tholds 2 tasks" in report
    assert f"holder_on_free_task\t{waiting.id}\tqueued but still names other" in report
    assert f"events_inconsistent\t{busy_hub['done'].id}\tevent_count 99" in report
    assert f"status_not_in_history\t{second.id}\tassigned, but its last event says queued" in (
        report
    )
    assert "channel_cursor_behind\tbuilds" in report
    assert "integrity problem(s) found" in report
    assert held.id not in report  # the sound rows are not named


def test_a_task_held_by_an_agent_gone_past_the_grace_is_reported(busy_hub):
    long_ago = now() - timedelta(hours=1)
    Agent.objects.filter(agent_id="worker").update(
        state=AgentState.OFFLINE, last_state_change=long_ago
    )
    status, report = check()
    assert status == 1
    assert f"held_by_offline_agent\t{busy_hub['held'].id}\theld by worker" in report
