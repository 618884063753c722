"""The repo registry: its API and rules, what task_assign carries, paused repos and
daily budgets in the pass, the claim and explain, and the pass at the day's turn."""

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcom_site.core.clock import now
from agentcom_site.core.gitnames import repo_slug_problem, repo_url_problem
from tasks import budgets, explain, flow, queue, repos, scheduler
from tasks.costs import CostIn
from tasks.models import AttemptCost, FlowChange, Repo, Task
from tasks.wire import assign_frame
from tests.site.gate_strategies import git_texts, hostile_text

pytestmark = pytest.mark.django_db

OPS = "operator:ops"
SHOP = {"name": "shop", "url": "https://git.example.com/acme/shop.git"}


def codes(task: Task) -> list[str]:
    task.refresh_from_db()
    return [reason["code"] for reason in explain.explain(task)["reasons"]]


def spend(task: Task, agent, dollars: str, *, failed: bool = False) -> None:
    """Run one attempt of `task` on `agent` that reports `dollars`."""
    queue.assign_task(task.id, agent.pk)
    task.refresh_from_db()
    if failed:
        queue.fail_task(
            task.id, agent, task.generation, error="red", cost=CostIn(cost_usd=float(dollars))
        )
    else:
        queue.complete_task(task.id, agent, task.generation, result={"cost_usd": float(dollars)})


def test_operators_register_change_pause_and_resume_repos(ops, api_for):
    status, created = ops.post("/api/repos", {**SHOP, "default_branch": "develop", "priority": 1})
    assert status == 201 and created["default_branch"] == "develop" and created["priority"] == 1
    assert ops.post("/api/repos", SHOP)[0] == 409
    status, changed = ops.send("PATCH", "/api/repos/shop", {"daily_budget_usd": 2.5})
    assert status == 200 and changed["daily_budget_usd"] == 2.5 and changed["url"] == SHOP["url"]
    status, paused = ops.post("/api/repos/shop/pause", {"reason": "release freeze"})
    assert paused["paused"] and paused["changed"] and paused["paused_reason"] == "release freeze"
    assert ops.post("/api/repos/shop/pause")[1]["changed"] is False
    assert ops.post("/api/repos/shop/resume")[1]["paused"] is False
    actions = FlowChange.objects.filter(scope="repo").order_by("pk").values_list("action", "key")
    assert list(actions) == [("budget_set", "shop"), ("paused", "shop"), ("resumed", "shop")]
    assert ops.send("PATCH", "/api/repos/nope", {"priority": 1})[0] == 404

    agent = api_for("reader")
    assert [r["name"] for r in agent.get("/api/repos")[1]["repos"]] == ["shop"]
    assert agent.get("/api/repos/shop")[0] == 200
    assert agent.post("/api/repos/shop/pause")[0] == 403
    assert agent.post("/api/repos", {"name": "mine", "url": SHOP["url"]})[0] == 403
    assert agent.put("/api/budget", {"daily_budget_usd": 1})[0] == 403
    assert not Repo.objects.get(name="shop").paused and Repo.objects.count() == 1


@pytest.mark.parametrize(
    "url",
    [
        "-uhttps://x/y",
        "ext::sh -c id",
        "https://x/ y",
        "https://x/y\n",
        "file://host/srv/x.git",
        "file:///srv/../etc",
        "https://u:p@h/x",
        "ftp://h/x",
    ],
)
def test_a_repo_url_that_git_could_misread_is_refused(ops, url):
    status, answer = ops.post("/api/repos", {"name": "bad", "url": url})
    assert status == 422 and answer["errors"][0]["field"] == "url", answer
    assert not Repo.objects.exists()


def test_file_urls_are_for_registered_repos_only(ops):
    assert ops.post("/api/repos", {"name": "local", "url": "file:///srv/git/x.git"})[0] == 201
    status, answer = ops.post("/api/tasks", {"description": "x", "repo": "file:///srv/git/x.git"})
    assert status == 422 and answer["errors"][0]["field"] == "repo"


@settings(max_examples=150, deadline=None)
@given(name=git_texts | st.text(max_size=120), url=git_texts | st.text(max_size=60))
def test_fuzzed_names_and_urls_are_stored_only_when_each_rule_holds(ops, name, url):
    before = Repo.objects.count()
    status, answer = ops.post("/api/repos", {"name": name, "url": url})
    assert status < 500, answer
    valid = (
        0 < len(name) <= 100
        and repo_slug_problem(name) is None
        and 0 < len(url) <= 2000
        and repo_url_problem(url) is None
    )
    if status == 201:
        assert valid and Repo.objects.filter(name=name, url=url).exists()
        Repo.objects.filter(name=name).delete()
    else:
        assert status in (409, 422) and Repo.objects.count() == before
        assert status == 409 or not valid


@settings(max_examples=60, deadline=None)
@given(raw=hostile_text)
def test_hostile_json_in_a_repo_body_is_answered_not_obeyed(ops, raw):
    body = '{"name": "n", "url": ' + raw + "}"
    status, _ = ops.post("/api/repos", body)
    assert status in (400, 422) and not Repo.objects.exists()


def test_task_assign_carries_the_repo_url_and_the_resolved_base(ops, submit):
    repos.create(actor=OPS, name="shop", url=SHOP["url"], default_branch="develop")
    named = assign_frame(submit(definition={"repo": "shop"}))
    assert (named["repo_url"], named["branch"]) == (SHOP["url"], "develop")
    own_branch = assign_frame(submit(definition={"repo": "shop", "branch": "hotfix"}))
    assert own_branch["branch"] == "hotfix"
    by_url = assign_frame(submit(definition={"repo": "git@h.example.com:a/b.git"}))
    assert (by_url["repo_url"], by_url["branch"]) == ("git@h.example.com:a/b.git", None)
    unknown = assign_frame(submit(definition={"repo": "elsewhere"}))
    assert unknown["repo_url"] is None
    assert "repo_url" not in assign_frame(submit())


def test_a_registered_repo_gives_its_tasks_its_priority_unless_they_name_one(ops):
    repos.create(actor=OPS, name="shop", url=SHOP["url"], priority=0)
    given_none = ops.post("/api/tasks", {"description": "x", "repo": "shop"})[1]
    assert given_none["priority"] == 0
    named = ops.post("/api/tasks", {"description": "x", "repo": "shop", "priority": 3})[1]
    assert named["priority"] == 3
    unknown = ops.post("/api/tasks", {"description": "x", "repo": "nowhere"})[1]
    assert [w["code"] for w in unknown["warnings"]] == ["repo_not_registered"]


def test_a_paused_repo_waits_in_pass_claim_and_explain(make_agent, submit):
    worker = make_agent("worker", online=True)
    repos.create(actor=OPS, name="shop", url=SHOP["url"])
    repos.pause(actor=OPS, name="shop", reason="freeze")
    by_name = submit("by name", definition={"repo": "shop"})
    by_url = submit("by url", definition={"repo": SHOP["url"]})
    free = submit("elsewhere", definition={"repo": "blog"})

    assert scheduler.schedule_pass() == 1
    free.refresh_from_db()
    assert free.holder_id == worker.pk
    queue.complete_task(free.id, worker, free.generation, result={})
    assert codes(by_name) == ["repo_paused"] and codes(by_url) == ["repo_paused"]
    with pytest.raises(flow.Withheld) as refused:
        queue.assign_task(by_name.id, worker.pk)
    assert refused.value.reason == "repo_paused" and refused.value.key == "shop"

    repos.resume(actor=OPS, name="shop")
    assert scheduler.schedule_pass() == 1


def test_a_budget_counts_failed_attempts_and_releases_when_raised(make_agent, submit):
    worker = make_agent("worker", online=True)
    repos.create(actor=OPS, name="shop", url=SHOP["url"], daily_budget_usd=Decimal("1"))
    first = submit("first", definition={"repo": SHOP["url"]}, max_retries=3)
    spend(first, worker, "0.4", failed=True)
    spend(first, worker, "0.4")
    assert budgets.spent_today(["shop"]) == Decimal("0.8")
    assert AttemptCost.objects.filter(repo="shop").count() == 2  # counted under its name

    second = submit("second", definition={"repo": "shop"})
    spend(second, worker, "0.2")
    third = submit("third", definition={"repo": "shop"})
    assert scheduler.schedule_pass() == 0
    assert codes(third) == ["repo_budget"]
    reason = explain.explain(third)["reasons"][0]
    assert reason["details"]["spent_usd"] == 1.0 and "$1.00 of its $1.00" in reason["message"]

    repos.update(actor=OPS, name="shop", changes={"daily_budget_usd": Decimal("2")})
    assert scheduler.schedule_pass() == 1


def test_yesterdays_spend_does_not_count_and_the_day_turn_asks_for_a_pass(
    make_agent, submit, monkeypatch
):
    worker = make_agent("worker", online=True)
    repos.create(actor=OPS, name="shop", url=SHOP["url"], daily_budget_usd=Decimal("1"))
    spend(submit("spent", definition={"repo": "shop"}), worker, "5")
    waiting = submit("waiting", definition={"repo": "shop"})
    asked: list[int] = []
    monkeypatch.setattr(scheduler, "request_pass_at", asked.append)
    monkeypatch.setattr(scheduler, "_day_turn_pass_due_ms", 0)

    assert scheduler.schedule_pass() == 0
    assert asked == [budgets.next_day_start_ms()]
    assert scheduler.schedule_pass() == 0 and len(asked) == 1  # asked once per turn

    yesterday = budgets.day_start() - timedelta(seconds=1)
    AttemptCost.objects.update(reported_at=yesterday)
    assert codes(waiting) == ["dispatching"]
    assert scheduler.schedule_pass() == 1


def test_the_fleet_budget_holds_every_new_task_and_defaults_to_the_setting(
    ops, make_agent, submit, settings
):
    worker = make_agent("worker", online=True)
    settings.AGENTCOM_FLEET_DAILY_BUDGET_USD = 0.5
    assert ops.get("/api/budget")[1]["daily_budget_usd"] == 0.5
    spend(submit("spent"), worker, "0.6")
    held = submit("held")
    assert codes(held) == ["fleet_budget"] and scheduler.schedule_pass() == 0

    status, raised = ops.put("/api/budget", {"daily_budget_usd": 10, "reason": "launch day"})
    assert status == 200 and raised["changed"] and not raised["is_default"]
    assert scheduler.schedule_pass() == 1
    status, back = ops.put("/api/budget", {"daily_budget_usd": None})
    assert back["is_default"] and back["budget_reached"] and back["daily_budget_usd"] == 0.5


def test_costs_per_repo_agent_and_day_count_every_attempt(ops, make_agent, submit):
    alpha = make_agent("alpha", online=True)
    task = submit("t", definition={"repo": "shop"}, max_retries=3)
    spend(task, alpha, "0.25", failed=True)
    spend(task, alpha, "0.5")
    other = submit("u", needed_capabilities=[])
    beta = make_agent("beta", online=True)
    queue.assign_task(other.id, beta.pk)
    other.refresh_from_db()
    queue.fail_task(other.id, beta, other.generation, error="no cost reported")

    def groups(by: str) -> dict:
        answer = ops.get("/api/costs", by=by)[1]
        return {g["key"]: (g["tasks"], g["failed"], g["cost_usd"]) for g in answer["groups"]}

    assert groups("repo") == {"shop": (1, 1, 0.75)}
    assert groups("agent") == {"alpha": (1, 1, 0.75)}
    assert groups("day") == {now().date().isoformat(): (1, 1, 0.75)}
