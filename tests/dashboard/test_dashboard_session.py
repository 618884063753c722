"""/ws/dashboard follows the session: once it ends (logout, expiry, staff flag removed)
the socket is closed with 4003, on the next client frame or by the periodic check."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.sessions.models import Session

from agentcom_site.core.clock import now
from tasks import queue
from tasks.models import Task
from tests.dashboard.test_dashboard_socket import opened

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


async def closed_with(comm, timeout: float = 3) -> int:
    while True:  # skip any snapshot or events still on their way
        message = await comm.receive_output(timeout=timeout)
        if message["type"] == "websocket.close":
            return message["code"]


@db
def end_every_session() -> None:
    """What logout does to the stored session: it is gone."""
    Session.objects.all().delete()


@db
def dead_letter() -> str:
    task, _ = queue.submit_task(description="x", submitted_by="t", max_retries=1)
    Task.objects.filter(pk=task.pk).update(status="dead_letter")
    return task.id


async def test_after_logout_the_next_action_closes_the_socket_and_does_nothing(
    session_cookie, settings
):
    settings.AGENTCOM_DASHBOARD_SESSION_CHECK_S = 3600  # only the action can notice
    task_id = await dead_letter()
    comm = await opened(session_cookie)
    await end_every_session()
    await comm.send_json_to({"type": "retry_task", "task_id": task_id})
    assert await closed_with(comm) == 4003
    assert (await db(Task.objects.get)(pk=task_id)).status == "dead_letter"


async def test_a_listening_socket_is_closed_when_the_staff_flag_goes(
    session_cookie, staff, settings
):
    settings.AGENTCOM_DASHBOARD_SESSION_CHECK_S = 0.05
    comm = await opened(session_cookie)
    staff.is_staff = False
    await db(staff.save)()
    assert await closed_with(comm) == 4003


async def test_an_expired_session_closes_the_socket(session_cookie, settings):
    settings.AGENTCOM_DASHBOARD_SESSION_CHECK_S = 0.05
    comm = await opened(session_cookie)
    await db(lambda: Session.objects.update(expire_date=now() - timedelta(seconds=1)))()
    assert await closed_with(comm) == 4003


async def test_a_live_session_keeps_the_socket(session_cookie, settings):
    settings.AGENTCOM_DASHBOARD_SESSION_CHECK_S = 0.05
    comm = await opened(session_cookie)
    assert await comm.receive_nothing(timeout=0.3)  # several checks passed
    await comm.send_json_to({"type": "request_snapshot"})
    assert (await comm.receive_json_from(timeout=3))["type"] == "snapshot"
    await comm.disconnect()
