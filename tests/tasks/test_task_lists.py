"""Task lists are capped pages of summaries; one task is read whole."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_list_carries_summaries_and_one_task_carries_everything(ops, submit):
    long = submit("x" * 5000, metadata={"blob": "y" * 5000})
    short = submit("short one", metadata={"k": 1})
    status, body = ops.get("/api/tasks")
    assert status == 200 and body["count"] == 2
    items = {item["id"]: item for item in body["tasks"]}
    assert items[long.id]["description"] == "x" * 200
    assert items[long.id]["description_truncated"] is True
    assert items[short.id]["description"] == "short one"
    assert items[short.id]["description_truncated"] is False
    for item in items.values():
        assert item["metadata"] is None and item["result"] is None and item["progress"] is None

    status, whole = ops.get(f"/api/tasks/{long.id}")
    assert whole["description"] == "x" * 5000 and whole["metadata"] == {"blob": "y" * 5000}


def test_a_page_is_at_most_200(ops):
    assert ops.get("/api/tasks", limit=201)[0] == 422
    assert ops.get("/api/tasks", limit=200)[0] == 200


def test_listing_costs_the_same_queries_for_many_tasks(ops, submit, django_assert_max_num_queries):
    for i in range(30):
        submit(f"task {i}")
    with django_assert_max_num_queries(8):
        status, body = ops.get("/api/tasks")
    assert status == 200 and body["count"] == 30


def test_the_dead_letter_list_is_a_capped_page_of_summaries(ops, submit, settings):
    from tasks.models import Task

    settings.AGENTCOM_LIST_MAX = 3
    for _ in range(5):
        task = submit("z" * 300)
        Task.objects.filter(pk=task.pk).update(status="dead_letter")
    status, body = ops.get("/api/tasks/dead-letter")
    assert status == 200 and body["count"] == 3 and body["total"] == 5
    assert all(item["description_truncated"] for item in body["tasks"])
