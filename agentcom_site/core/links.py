"""Links that come from agents (`pr_url`, URLs in results and messages).

An agent chooses these strings, so a page must never turn one into a `javascript:` or
`data:` link an operator could click. Only `http:` and `https:` URLs with a host become
links; anything else is shown as plain, escaped text. The dashboard's `web_link`
template filter and the admin both render through `web_link` here.
"""

from typing import Any
from urllib.parse import urlsplit

from django.utils.html import format_html
from django.utils.safestring import SafeString

WEB_SCHEMES = ("http", "https")
MAX_URL_CHARS = 2048


def is_web_url(value: Any) -> bool:
    """An absolute http(s) URL with a host and no whitespace or control characters
    (browsers drop those inside a scheme, which would let `java\\tscript:` through)."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL_CHARS:
        return False
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return False
    parts = urlsplit(value)
    return parts.scheme.lower() in WEB_SCHEMES and bool(parts.netloc)


def web_link(value: Any, empty: str = "\u2013") -> SafeString:  # an en dash, as the pages use
    """`<a>` for a web URL (opened apart, without the referrer), escaped text otherwise."""
    if value is None or value == "":
        return format_html("{}", empty)
    if is_web_url(value):
        return format_html(
            '<a href="{}" rel="noopener noreferrer nofollow" target="_blank">{}</a>', value, value
        )
    return format_html("{}", value)
