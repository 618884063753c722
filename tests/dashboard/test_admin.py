"""The admin as a control room: transition buttons, bulk actions, search, tokens."""

import re
from html.parser import HTMLParser

import pytest

from agents.models import Agent, AgentToken
from agents.tokens import authenticate
from tasks import queue
from tasks.models import Task

pytestmark = pytest.mark.django_db

TASKS = "/admin/tasks/task/"
AGENTS = "/admin/agents/agent/"


class ChangeForm(HTMLParser):
    """The values a browser would post back from an admin change form."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "checkbox"):
            self.data[name] = a.get("value") or ""
        elif tag == "input" and name and "checked" in a:
            self.data[name] = a.get("value") or "on"
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data


def press(client, url: str, transition: str):
    parser = ChangeForm()
    page = client.get(url)
    assert page.status_code == 200
    parser.feed(page.content.decode())
    data = {k: v for k, v in parser.data.items() if not k.startswith("_")}
    return client.post(url, {**data, "_fsm_transition_to": transition}, follow=True)


def run_action(client, changelist: str, action: str, pks: list):
    return client.post(
        changelist, {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_task_cancel_button_goes_through_the_queue(admin_client, assigned):
    task, agent = assigned("holder")
    page = admin_client.get(f"{TASKS}{task.pk}/change/").content.decode()
    assert 'value="cancel"' in page and 'value="reclaim"' in page
    press(admin_client, f"{TASKS}{task.pk}/change/", "cancel")
    task.refresh_from_db()
    agent.refresh_from_db()
    assert task.status == "cancelled" and agent.state == "idle"
    last = task.events.order_by("-seq").first()
    assert last.event == "cancelled" and last.actor == "operator:admin"


def test_task_page_shows_its_timeline_inline(admin_client, assigned):
    task, agent = assigned("holder")
    queue.accept_task(task.id, agent)
    page = admin_client.get(f"{TASKS}{task.pk}/change/").content.decode()
    events = re.findall(r'<td class="field-what">\s*<p>(\w+) \(gen \d+\)</p>', page)
    assert events == ["accepted", "assigned", "queued"]  # newest first


def test_agent_block_and_unblock_buttons(admin_client, make_agent):
    agent = make_agent("blockable", online=True)
    url = f"{AGENTS}{agent.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert 'value="block"' in page
    assert 'value="go_offline"' not in page  # no service behind it: no button
    press(admin_client, url, "block")
    agent.refresh_from_db()
    assert agent.state == "blocked"
    press(admin_client, url, "unblock")
    agent.refresh_from_db()
    assert agent.state == "idle"


def test_bulk_retry_cancel_and_requeue(admin_client, assigned, submit):
    dead, holder = assigned("dead-holder", max_retries=1)
    queue.fail_task(dead.id, holder, 1, error="x")
    waiting = submit("waiting")
    held, _ = assigned("held-holder")

    response = run_action(admin_client, TASKS, "bulk_retry_dead_letters", [dead.pk, waiting.pk])
    assert "1 done, 1 not in a valid state" in messages_of(response)[0]
    response = run_action(admin_client, TASKS, "bulk_requeue_held_tasks", [held.pk])
    assert "1 done" in messages_of(response)[0]
    response = run_action(admin_client, TASKS, "bulk_cancel", [waiting.pk])
    assert "1 done" in messages_of(response)[0]

    statuses = dict(Task.objects.values_list("pk", "status"))
    assert statuses == {dead.pk: "queued", held.pk: "queued", waiting.pk: "cancelled"}
    assert Task.objects.get(pk=held.pk).events.order_by("-seq").first().event == "reclaimed"


def test_search_by_id_title_and_holder(admin_client, assigned, submit):
    task, _ = assigned("findable-agent", title="Needle in a haystack")
    other = submit("other", title="Hay")
    for term in (task.id, "needle", "findable-agent"):
        page = admin_client.get(TASKS, {"q": term}).content.decode()
        assert task.id in page and other.id not in page, term


def test_issue_token_shows_it_once_and_it_works(admin_client, make_agent):
    agent = make_agent("tokened")
    response = run_action(admin_client, AGENTS, "issue_token", [agent.pk])
    (message,) = messages_of(response)
    token = message.rsplit(" ", 1)[-1]
    assert len(token) == 64 and authenticate(token).name == "tokened"
    row = AgentToken.objects.get(agent=agent)
    assert row.token_hash != token and row.prefix == token[:8]
    assert token not in admin_client.get(f"{AGENTS}{agent.pk}/change/").content.decode()


def test_revoke_tokens_action(admin_client, make_agent, agent_token):
    agent = make_agent("revoked")
    token = agent_token(agent)
    response = run_action(admin_client, AGENTS, "revoke_tokens", [agent.pk])
    assert messages_of(response) == ["Revoked 1 token(s) of revoked."]
    assert authenticate(token) is None
    assert Agent.objects.get(pk=agent.pk).tokens.live().count() == 0


@pytest.mark.parametrize(
    ("pr_url", "linked"),
    [("https://github.com/o/r/pull/7", True), ("javascript:alert(1)", False)],
)
def test_the_task_page_links_a_pr_url_only_when_it_is_http(admin_client, assigned, pr_url, linked):
    task, agent = assigned("holder")
    queue.accept_task(task.id, agent)
    queue.complete_task(task.id, agent, 1, result={"pr_url": pr_url})
    page = admin_client.get(f"{TASKS}{task.pk}/change/").content.decode()
    field = page.split("field-pull_request", 1)[1].split('class="readonly">', 1)[1]
    field = field.split("</div>", 1)[0]
    assert (f'<a href="{pr_url}"' in field) is linked
    assert pr_url in field


@pytest.mark.parametrize("table", ["hourlytraffic", "connectionsession", "configvalue"])
def test_internal_tables_are_read_only(admin_client, table):
    url = f"/admin/messaging/{table}/"
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(f"{url}add/").status_code == 403
    assert f"{url}add/" not in admin_client.get(url).content.decode()


def test_a_task_page_offers_no_save_and_no_delete(admin_client, assigned):
    task, _ = assigned("holder")
    page = admin_client.get(f"{TASKS}{task.pk}/change/").content.decode()
    assert 'name="_save"' not in page and "deletelink" not in page
    assert page.index('id="lifecycle-actions"') < page.index("<fieldset")
    assert admin_client.post(f"{TASKS}{task.pk}/delete/").status_code == 403


def test_the_index_keeps_internal_records_in_a_section_of_their_own(admin_client):
    page = admin_client.get("/admin/").content.decode()

    def section(label: str) -> str:
        return page.split(f'class="app-{label} module', 1)[1].split("</table>", 1)[0]

    internal, messaging, tasks = section("internal"), section("messaging"), section("tasks")
    assert "Internal records (read-only)" in internal
    for name in ("hourlytraffic", "connectionsession", "configvalue"):
        table = f"messaging/{name}"
        assert f"/admin/{table}/" in internal and f"/admin/{table}/" not in messaging
    assert "/admin/tasks/taskevent/" in internal and "/admin/tasks/taskevent/" not in tasks
    assert "/admin/messaging/message/" in messaging and "/admin/tasks/task/" in tasks


def test_the_task_page_shows_the_definition_and_cost_read_only(admin_client, assigned):
    definition = {
        "repo": "acme/shop",
        "branch": "main",
        "file_hints": ["src/<a>.py"],
        "verification_steps": [
            {"type": "tests_pass", "command": "pytest <x>"},
            {"type": "git_clean"},
        ],
        "complexity": "trivial",
        "complexity_reason": "given by the submitter",
    }
    task, agent = assigned("holder", definition=definition)
    result = {"tokens_in": 7, "tokens_out": 3, "model": "m-1", "cost_usd": 0.5}
    queue.complete_task(task.id, agent, task.generation, result=result)
    page = admin_client.get(f"{TASKS}{task.pk}/change/").content.decode()
    assert "What done means" in page and "What it cost" in page
    assert '<ol class="verification-steps"><li><strong>tests_pass</strong>' in page
    assert "pytest &lt;x&gt;" in page and "src/&lt;a&gt;.py" in page
    assert "<x>" not in page
    assert 'name="repo"' not in page  # read only: shown, never an input
    assert re.search(r'class="readonly">0\.50*</div>', page)


def test_repos_are_added_checked_and_paused_from_the_admin(admin_client):
    from tasks.models import FlowChange, Repo

    add = "/admin/tasks/repo/add/"
    refused = admin_client.post(
        add, {"name": "shop", "url": "ext::sh -c id", "default_branch": "main", "priority": 2}
    )
    assert refused.status_code == 200 and not Repo.objects.exists()
    created = admin_client.post(
        add,
        {"name": "shop", "url": "file:///srv/shop.git", "default_branch": "dev", "priority": 1},
    )
    assert created.status_code == 302, created.content[:500]
    repo = Repo.objects.get(name="shop")
    assert (repo.default_branch, repo.priority) == ("dev", 1) and repo.updated_by
    run_action(admin_client, "/admin/tasks/repo/", "pause_repos", [repo.pk])
    assert Repo.objects.get(name="shop").paused
    assert FlowChange.objects.filter(action="paused", key="shop").exists()
    run_action(admin_client, "/admin/tasks/repo/", "resume_repos", [repo.pk])
    assert not Repo.objects.get(name="shop").paused
