"""Shared factories: named agents, tokens and tasks built through the real services."""

import os

import pytest

from agents import services, tokens
from agents.models import Agent
from tasks import queue
from tasks.models import Task

SCALED = os.getenv("AGENTCOM_TEST_SCALED") == "1"


@pytest.fixture
def make_agent(db):
    def make(agent_id: str = "agent-1", *, capabilities=(), online: bool = False) -> Agent:
        agent, _ = services.ensure_agent(agent_id, capabilities=list(capabilities))
        if online:
            bring_online(agent)
        return agent

    return make


def bring_online(agent: Agent, channel_name: str | None = None) -> Agent:
    """What identify does to the row, without a socket: idle and reachable."""
    agent.refresh_from_db()
    agent.come_online(holding=None)
    agent.channel_name = channel_name or f"test.{agent.agent_id}"
    agent.save()
    return agent


@pytest.fixture
def agent_token(db):
    def issue(agent: Agent) -> str:
        return tokens.issue_agent_token(agent)[1]

    return issue


@pytest.fixture
def operator_token(db) -> str:
    return tokens.issue_operator_token("ops")[1]


@pytest.fixture
def submit(db):
    def make(description: str = "do the thing", **fields) -> Task:
        fields.setdefault("submitted_by", "tester")
        task, _ = queue.submit_task(description=description, **fields)
        return task

    return make


@pytest.fixture
def assigned(make_agent, submit):
    """A task assigned to an online agent: (task, agent)."""

    def make(agent_id: str = "holder", **fields) -> tuple[Task, Agent]:
        agent = make_agent(agent_id, online=True)
        task = submit(**fields)
        assert queue.assign_task(task.id, agent.pk) is not None
        task.refresh_from_db()
        agent.refresh_from_db()
        return task, agent

    return make
