"""The Repos page and the cost panel: registered repos with today's spend against their
budget, the forms (checked by the API's schema, through the same services), pause and
resume, and a chart of cost per day that counts failed attempts."""

import json
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from agentcom_site.core.clock import now
from tasks import budgets, queue, repos
from tasks.models import AttemptCost, FleetBudget, Repo

pytestmark = pytest.mark.django_db


def _spent(repo: str, dollars: str, outcome: str = "failed") -> None:
    task, _ = queue.submit_task(description="x", submitted_by="t", definition={"repo": repo})
    AttemptCost.objects.create(
        task=task, generation=1, outcome=outcome, repo=repo, cost_usd=Decimal(dollars)
    )


def test_the_repos_page_registers_budgets_pauses_and_resumes(staff_client):
    created = staff_client.post(
        "/dashboard/repos",
        {"name": "shop", "url": "file:///srv/shop.git", "default_branch": "main", "priority": "1"},
    )
    assert created.status_code == 302 and Repo.objects.get(name="shop").priority == 1
    refused = staff_client.post(
        "/dashboard/repos",
        {"name": "evil", "url": "-uhttps://x/y", "default_branch": "main", "priority": "2"},
    )
    assert refused.status_code == 200 and "may not start with" in refused.content.decode()
    assert not Repo.objects.filter(name="evil").exists()

    staff_client.post("/dashboard/repos/shop/budget", {"daily_budget_usd": "2"})
    assert Repo.objects.get(name="shop").daily_budget_usd == Decimal(2)
    staff_client.post("/dashboard/repos/shop/budget", {"daily_budget_usd": "-1"})
    assert Repo.objects.get(name="shop").daily_budget_usd == Decimal(2)
    _spent("shop", "1.7")
    page = staff_client.get("/dashboard/repos").content.decode()
    row = re.search(r'<tr data-repo="shop".*?</tr>', page, re.S).group(0)
    assert "1.70 (85 %)" in row and "placing" in row
    _spent("shop", "0.3", "completed")
    row = re.search(
        r'<tr data-repo="shop".*?</tr>', staff_client.get("/dashboard/repos").content.decode(), re.S
    ).group(0)
    assert "data-budget-reached" in row and "budget reached: tasks wait" in row

    staff_client.post("/dashboard/repos/shop/pause", {"paused": "yes"})
    assert Repo.objects.get(name="shop").paused
    staff_client.post("/dashboard/repos/shop/pause", {"paused": "no"})
    assert not Repo.objects.get(name="shop").paused

    staff_client.post("/dashboard/repos/budget", {"daily_budget_usd": "12.5"})
    assert FleetBudget.objects.get().daily_budget_usd == Decimal("12.5")
    page = staff_client.get("/dashboard/repos").content.decode()
    assert "Spent today: $2.00 of $12.50" in page


def test_repo_names_and_urls_are_escaped_and_the_page_is_staff_only(staff_client):
    repos.create(actor="ops", name="shop", url="https://h.example.com/a/<b>.git")
    page = staff_client.get("/dashboard/repos").content.decode()
    assert "&lt;b&gt;.git" in page and "<b>.git" not in page
    visitor = get_user_model().objects.create_user("visitor", password="x")
    client = Client()
    client.force_login(visitor)
    assert client.get("/dashboard/repos").status_code == 302
    assert client.post("/dashboard/repos/shop/pause").status_code == 302
    assert not Repo.objects.get(name="shop").paused


def test_the_cost_panel_charts_every_day_and_counts_failed_attempts(staff_client):
    _spent("shop", "0.5")
    _spent("shop", "0.25", "completed")
    page = staff_client.get("/dashboard").content.decode()
    points = json.loads(re.search(r'id="cost-days"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert len(points) in (7, 8)
    assert points[-1] == {"t": int(budgets.day_start(now()).timestamp() * 1000), "cost_usd": 0.75}
    assert all(p["cost_usd"] == 0 for p in points[:-1])
    assert re.search(r'<tr data-repo="shop"><td>shop</td><td>1</td><td>1</td><td>0.7500</td>', page)
