"""A pass's page of queued tasks, read as fixed SQL (`selectors.eligible_page`), holds
exactly the rows the QuerySet `eligible_queued()` gives for the same stream."""

from datetime import timedelta

import pytest

from agentcom_site.core.clock import now
from tasks.models import Task
from tasks.scheduler import TaskCandidate
from tasks.selectors import CANDIDATE_FIELDS, eligible_page, eligible_queued

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue_of_tasks(submit, make_agent):
    """Tasks of two keys and two submitters, equal ages and priorities among them (the
    id breaks the tie), one pinned, one waiting on a dependency, one past its deadline."""
    pinned_to = make_agent("pinned-agent", online=False)
    moment = now() - timedelta(hours=1)
    for n in range(12):
        task = submit(
            f"task {n}",
            needed_capabilities=["python"] if n % 3 else [],
            submitted_by="alice" if n % 2 else "bob",
            priority=n % 2 + 1,
            metadata={"n": n},
        )
        Task.objects.filter(pk=task.pk).update(created_at=moment + timedelta(seconds=n // 4))
    blocker = submit("blocker", needed_capabilities=["python"])
    submit("waits", needed_capabilities=["python"], depends_on=[blocker.pk])
    late = submit("late", needed_capabilities=["python"])
    Task.objects.filter(pk=late.pk).update(complete_by=moment)
    Task.objects.filter(pk=submit("held off", needed_capabilities=["python"]).pk).update(
        rejected_by=["x"], held_off={"x": [1, 2]}
    )
    submit("pinned", pinned_to=pinned_to)
    return pinned_to


def by_queryset(*, capability_key=None, pinned_pk=None, leave_out=(), after=None, size):
    rows = eligible_queued().values_list(*CANDIDATE_FIELDS)
    if pinned_pk is None:
        rows = rows.filter(pinned_to__isnull=True, capability_key=capability_key)
    else:
        rows = rows.filter(pinned_to=pinned_pk)
    rows = rows.exclude(submitted_by__in=list(leave_out))
    if after is not None:
        priority, created_at, task_id = after
        rows = [row for row in rows if tuple(row[:3]) > (priority, created_at, task_id)]
    return list(rows)[:size]


@pytest.mark.parametrize("key", ["", "python"])
@pytest.mark.parametrize("leave_out", [(), ("alice",), ("alice", "bob")])
def test_pages_walked_to_the_end_match_the_queryset(queue_of_tasks, key, leave_out):
    expected = by_queryset(capability_key=key, leave_out=leave_out, size=1000)
    walked, last = [], None
    while True:
        page = eligible_page(capability_key=key, leave_out=leave_out, after=last, size=3)
        walked += page
        if len(page) < 3:
            break
        last = page[-1][:3]
    assert walked == expected
    assert walked or leave_out == ("alice", "bob")


def test_a_pinned_agents_page_matches_the_queryset(queue_of_tasks):
    page = eligible_page(pinned_pk=queue_of_tasks.pk, size=10)
    assert page == by_queryset(pinned_pk=queue_of_tasks.pk, size=10)
    assert [row[2] for row in page] == list(
        Task.objects.filter(description="pinned").values_list("id", flat=True)
    )


def test_the_page_carries_the_fields_a_pass_reads(queue_of_tasks):
    assert TaskCandidate._fields == CANDIDATE_FIELDS
    held_off = [row for row in eligible_page(capability_key="python", size=100) if row[4]]
    assert [(row[4], row[6]) for row in held_off] == [(["x"], {"x": [1, 2]})]
