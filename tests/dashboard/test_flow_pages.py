"""Flow control on the dashboard and in the admin: the same services as the API."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from agents.models import Agent
from tasks import flow
from tasks.models import DispatchPause, FlowChange, WipCap

pytestmark = pytest.mark.django_db


def test_the_overview_banner_pauses_and_resumes(staff_client):
    page = staff_client.get("/dashboard").content.decode()
    assert "Dispatch is running." in page and 'data-action="pause"' in page

    staff_client.post("/dashboard/dispatch/pause")
    page = staff_client.get("/dashboard").content.decode()
    assert "Dispatch is paused." in page and 'data-action="resume"' in page
    assert flow.health_section()["paused"] is True

    staff_client.post("/dashboard/dispatch/pause", {"capability": "<gpu>"})
    page = staff_client.get("/dashboard").content.decode()
    assert '<span class="chip">&lt;gpu&gt;</span>' not in page  # paused all: one banner
    staff_client.post("/dashboard/dispatch/resume")
    page = staff_client.get("/dashboard").content.decode()
    assert '<span class="chip">&lt;gpu&gt;</span>' in page and "<gpu>" not in page
    staff_client.post("/dashboard/dispatch/resume", {"capability": "<gpu>"})
    assert not DispatchPause.objects.exists()
    actors = set(FlowChange.objects.values_list("actor", flat=True))
    assert actors == {"operator:ops"}


def test_the_buttons_are_staff_only(make_agent):
    user = get_user_model().objects.create_user("visitor", password="x")
    client = Client()
    client.force_login(user)
    make_agent("worker")
    assert client.post("/dashboard/dispatch/pause").status_code == 302
    assert client.post("/dashboard/drain/worker").status_code == 302
    assert not DispatchPause.objects.exists()
    assert Agent.objects.get(agent_id="worker").draining is False


def test_the_agent_page_drains_and_undrains(staff_client, make_agent):
    make_agent("worker", online=True)
    assert 'data-action="drain"' in staff_client.get("/dashboard/agents/worker").content.decode()
    staff_client.post("/dashboard/drain/worker")
    page = staff_client.get("/dashboard/agents/worker").content.decode()
    assert Agent.objects.get(agent_id="worker").draining is True
    assert 'data-action="undrain"' in page and '<span class="badge flag">draining</span>' in page
    staff_client.post("/dashboard/drain/worker", {"draining": "no"})
    assert Agent.objects.get(agent_id="worker").draining is False


def test_the_task_page_explains_a_waiting_task(staff_client, submit):
    task = submit("<b>nobody</b>", needed_capabilities=["<quantum>"])
    page = staff_client.get(f"/dashboard/tasks/{task.id}").content.decode()
    assert '<li data-code="no_agent_with_capabilities">' in page
    assert "no agent is registered" in page


def test_the_admin_pauses_and_caps_through_the_services(admin_client):
    admin_client.post("/admin/tasks/dispatchpause/add/", {"capability": "gpu", "reason": "cooling"})
    admin_client.post(
        "/admin/tasks/wipcap/add/", {"scope": "submitter", "key": "ci-bot", "limit": "3"}
    )
    assert flow.health_section()["paused_capabilities"] == ["gpu"]
    assert WipCap.objects.get(key="ci-bot").limit == 3
    pause = DispatchPause.objects.get()
    admin_client.post(f"/admin/tasks/dispatchpause/{pause.pk}/delete/", {"post": "yes"})
    assert not DispatchPause.objects.exists()
    rows = FlowChange.objects.order_by("pk").values_list("action", "key", "actor")
    assert list(rows) == [
        ("paused", "gpu", "operator:admin"),
        ("cap_set", "ci-bot", "operator:admin"),
        ("resumed", "gpu", "operator:admin"),
    ]
    assert admin_client.get("/admin/tasks/flowchange/").status_code == 200


def test_the_admin_drain_action(admin_client, make_agent):
    agent = make_agent("worker", online=True)
    admin_client.post(
        "/admin/agents/agent/", {"action": "drain", "_selected_action": [str(agent.pk)]}
    )
    assert Agent.objects.get(pk=agent.pk).draining is True
