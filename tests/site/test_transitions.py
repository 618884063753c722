"""Saves of the FSM models stay conditional on their state fields, found once per model
(agentcom_site/core/transitions.py)."""

import pytest
from django.db import transaction
from django_fsm import ConcurrentTransition, ConcurrentTransitionMixin

from agentcom_site.core.transitions import state_fields_of
from agents.models import Agent, AgentState
from tasks.models import Task, TaskStatus

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", [Task, Agent])
def test_the_state_fields_are_the_ones_the_mixin_finds(model):
    instance = model()
    found_by_the_mixin = tuple(ConcurrentTransitionMixin.state_fields.fget(instance))
    assert instance.state_fields == state_fields_of(model) == found_by_the_mixin
    assert [f.name for f in state_fields_of(model)] == ["status" if model is Task else "state"]


def test_a_save_after_the_state_moved_changes_nothing():
    task = Task.objects.create(description="d", title="t", submitted_by="ops")
    stale = Task.objects.get(pk=task.pk)
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.CANCELLED)
    stale.title = "renamed"
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        stale.save()
    assert Task.objects.get(pk=task.pk).title == "t"


def test_an_agent_saved_twice_is_compared_with_its_last_save(make_agent):
    agent = make_agent("fsm-1")
    agent.come_online(holding=None)
    agent.save()
    agent.status_text = "again"
    agent.save()  # conditional on the state the first save wrote, not the one first read
    assert Agent.objects.get(pk=agent.pk).status_text == "again"
    assert Agent.objects.get(pk=agent.pk).state == AgentState.IDLE
