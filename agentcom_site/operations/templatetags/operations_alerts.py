"""`{% active_alerts %}`: the open alerts with an Acknowledge button, for the overview."""

from django import template

from agentcom_site.operations.models import OPEN, Alert

register = template.Library()
SHOWN = 20  # open alerts listed; the rest are counted and a link away (admin, API)


@register.inclusion_tag("operations/active_alerts.html", takes_context=True)
def active_alerts(context) -> dict:
    open_alerts = Alert.objects.filter(state__in=OPEN)
    return {
        "alerts": list(open_alerts[:SHOWN]),
        "total": open_alerts.count(),
        "csrf_token": context.get("csrf_token"),
    }
