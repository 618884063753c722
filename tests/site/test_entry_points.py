"""The addresses a newcomer types lead somewhere, and the login is the hub's own."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("typed", "lands_on"),
    [
        ("/", "/dashboard"),
        ("/dashboard/", "/dashboard"),
        ("/api", "/api/docs"),
        ("/api/", "/api/docs"),
        ("/api/docs/", "/api/docs"),
    ],
)
def test_typed_addresses_redirect(client, typed, lands_on):
    response = client.get(typed)
    assert response.status_code == 302
    assert response["Location"] == lands_on


def test_the_dashboard_sends_a_visitor_to_the_login(client):
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/dashboard"


def test_the_login_is_agentcoms_and_says_what_to_log_in_with(client):
    page = client.get("/admin/login/").content.decode()
    assert "<title>Log in | AgentCom</title>" in page
    assert '<div id="site-name"><a href="/admin/">AgentCom</a></div>' in page
    assert "manage.py createsuperuser" in page
    assert "Django administration" not in page and "Django site admin" not in page


def test_the_api_docs_use_the_hubs_own_swagger_ui(client):
    page = client.get("/api/docs").content.decode()
    assert 'src="/static/ninja/swagger-ui-bundle.js"' in page
    assert "cdn" not in page.lower() and "https://" not in page
    assert '"validatorUrl": null' in page
    assert client.get("/static/ninja/swagger-ui-bundle.js").status_code == 200


def test_unknown_api_routes_are_still_json_404s(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
