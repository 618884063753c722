"""Logging in to a running hub's pages as a browser does, with the standard library."""

import http.cookiejar
import re
import urllib.parse
import urllib.request


def log_in(base: str, username: str, password: str, next_page: str = "/dashboard"):
    """The hub's login (CSRF cookie and field); returns (opener with the session, landing page)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_url = f"{base}/admin/login/?next={next_page}"
    form = opener.open(login_url, timeout=10).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    body = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": csrf,
            "username": username,
            "password": password,
            "next": next_page,
        }
    ).encode()
    request = urllib.request.Request(login_url, data=body)
    request.add_header("Referer", f"{base}/admin/login/")
    with opener.open(request, timeout=10) as response:
        assert response.url.endswith(next_page), response.url
        return opener, response.read().decode()
