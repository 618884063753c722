"""A task's timeline is shown in pages, on the dashboard and in the admin."""

import pytest

from tasks.models import TaskEvent

pytestmark = pytest.mark.django_db


def add_events(task, count: int) -> None:
    start = task.event_count
    TaskEvent.objects.bulk_create(
        TaskEvent(
            task=task,
            seq=start + i + 1,
            event="progress",
            to_status=task.status,
            actor="tester",
            reason=f"row-{start + i + 1}",
            generation=0,
        )
        for i in range(count)
    )
    task.event_count = start + count
    task.save(update_fields=["event_count"])


def test_the_dashboard_shows_the_latest_page_of_a_long_timeline(staff_client, submit):
    task = submit("long lived")
    add_events(task, 349)  # 350 events with `queued`
    page = staff_client.get(f"/dashboard/tasks/{task.id}").content.decode()
    assert page.count('data-event="progress"') == 50  # the last of 4 pages of 100
    assert "row-350" in page and "row-300" not in page
    assert "events 301\u2013350 of 350" in page

    first = staff_client.get(f"/dashboard/tasks/{task.id}?events_page=1").content.decode()
    assert 'data-event="queued"' in first and first.count("<tr data-event=") == 100


def test_the_admin_task_page_shows_the_latest_events_and_links_to_all(staff_client, submit):
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(is_staff=True).update(is_superuser=True)
    task = submit("long lived")
    add_events(task, 500)
    page = staff_client.get(f"/admin/tasks/task/{task.id}/change/").content.decode()
    assert "row-501" in page and "row-451" not in page and "row-452" in page
    assert f"?q={task.id}" in page and "all 501 events" in page
