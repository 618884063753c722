"""`{% load links %}` … `{{ url|web_link }}`: agent-supplied URLs as safe links."""

from django import template

from agentcom_site.core.links import web_link as render_web_link

register = template.Library()


@register.filter
def web_link(value):
    """A link only for http(s) URLs; any other value is plain, escaped text."""
    return render_web_link(value)
