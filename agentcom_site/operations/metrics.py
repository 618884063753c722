"""`GET /metrics`: the Prometheus text format, and the figures the dashboard charts.

Two sources, one answer:
- counters and histograms counted where things happen (agentcom_site/core/metrics.py),
  summed over every process on the machine in multiprocess mode;
- gauges read from the database at scrape time, where the database is the truth and
  every process must agree: tasks by status and priority, the oldest queued task per
  capability key, agents by state, the fleet's latest resource reports, and the last
  hour's figures (`dashboard_figures`, which the dashboard charts read too).

Access: an operator (token or staff session), the scrape token
`AGENTCOM_METRICS_TOKEN` as a bearer token, or a client address in
`AGENTCOM_METRICS_ALLOW`. Nobody else: 401 without credentials, 403 with others.
"""

import hmac
import ipaddress
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from agentcom_site.core import metrics as counted
from agentcom_site.core.auth import authenticate, session_principal
from agentcom_site.core.clock import now
from agentcom_site.core.errors import HubError, forbidden, unauthorized
from agents.models import Agent, AgentState, ResourceReport
from tasks import figures
from tasks.models import CAPABILITY_SEPARATOR, Priority, Task, TaskStatus

KEY_LABEL_CHARS = 200
FLEET_BYTES = (
    ("ram_used", "RAM in use"),
    ("ram_total", "RAM"),
    ("vram_used", "GPU memory in use"),
    ("vram_total", "GPU memory"),
)


# --- the figures the dashboard charts ---------------------------------------------------


def dashboard_figures(moment: datetime | None = None) -> dict[str, Any]:
    """The last hour, from the task audit trail through `tasks.figures` (the overview's
    charts read the same module, so there is one way of counting): completions and
    failed attempts in all and per minute, and dispatch latency (entering `queued` to
    `assigned`) p50/p95 in seconds. `per_minute` has 60 entries, oldest first:
    `{"t": minute start (ms since epoch), "completed", "failed"}`."""
    moment = moment or now()
    hour = figures.window_figures(moment, timedelta(hours=1))
    minutes = figures.task_series(moment, timedelta(minutes=1), 60)
    return {
        "completed_last_hour": hour.completed,
        "failed_last_hour": hour.failed,
        "throughput_per_minute": hour.completed / 60,
        "failures_per_minute": hour.failed / 60,
        "dispatch_latency_p50_s": _seconds(hour.latency_p50_ms),
        "dispatch_latency_p95_s": _seconds(hour.latency_p95_ms),
        "dispatched_last_hour": hour.dispatched,
        "per_minute": [
            {"t": m.start_ms, "completed": m.completed, "failed": m.failed} for m in minutes
        ],
    }


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


# --- gauges read from the database ----------------------------------------------------------


def _key_label(key: str) -> str:
    return key.replace(CAPABILITY_SEPARATOR, ",")[:KEY_LABEL_CHARS] or "(none)"


class DatabaseCollector(Collector):
    """Gauges computed from the stored state at each scrape."""

    def collect(self) -> Iterator[Metric]:
        moment = now()
        yield self._tasks()
        yield self._queue_age(moment)
        yield self._agents()
        yield from self._resources()
        yield from self._last_hour(moment)

    def _tasks(self) -> Metric:
        family = GaugeMetricFamily(
            "agentcom_tasks", "Tasks by status and priority", labels=["status", "priority"]
        )
        counts = {
            (row["status"], row["priority"]): row["n"]
            for row in Task.objects.values("status", "priority").annotate(n=Count("pk")).order_by()
        }
        for status in TaskStatus.values:
            for priority in Priority:
                family.add_metric(
                    [status, priority.label.lower()], counts.get((status, priority), 0)
                )
        return family

    def _queue_age(self, moment: datetime) -> Metric:
        family = GaugeMetricFamily(
            "agentcom_queue_oldest_age_seconds",
            "Age of the oldest queued task per capability key (the oldest keys only)",
            labels=["capability_key"],
        )
        rows = (
            Task.objects.filter(status=TaskStatus.QUEUED)
            .values("capability_key")
            .annotate(oldest=Min("created_at"))
            .order_by("oldest")[: settings.AGENTCOM_METRICS_MAX_KEYS]
        )
        for row in rows:
            age = max((moment - row["oldest"]).total_seconds(), 0.0)
            family.add_metric([_key_label(row["capability_key"])], age)
        return family

    def _agents(self) -> Metric:
        family = GaugeMetricFamily(
            "agentcom_agents", "Registered agents by state", labels=["state"]
        )
        counts = dict(Agent.objects.values_list("state").annotate(n=Count("pk")).order_by())
        for state in AgentState.values:
            family.add_metric([state], counts.get(state, 0))
        return family

    def _resources(self) -> Iterator[Metric]:
        reports = ResourceReport.objects.filter(
            reported_at__isnull=False, agent__state__in=_online_states()
        )
        figures = reports.aggregate(
            n=Count("pk"),
            ram_used=Sum("ram_used_bytes"),
            ram_total=Sum("ram_total_bytes"),
            vram_used=Sum("vram_used_bytes"),
            vram_total=Sum("vram_total_bytes"),
            cpu=Sum("cpu_percent"),
        )
        n = figures["n"] or 0
        yield GaugeMetricFamily(
            "agentcom_fleet_reporting_agents", "Connected agents with a resource report", value=n
        )
        for key, what in FLEET_BYTES:
            yield GaugeMetricFamily(
                f"agentcom_fleet_{key}_bytes",
                f"{what} of the connected agents' machines, summed",
                value=figures[key] or 0,
            )
        yield GaugeMetricFamily(
            "agentcom_fleet_cpu_percent_mean",
            "Mean CPU use of connected agents' machines (0 with no reports)",
            value=(figures["cpu"] or 0) / n if n else 0,
        )
        yield GaugeMetricFamily(
            "agentcom_fleet_restarting_agents",
            "Agents whose sidecar said it is restarting and has not reported since",
            value=ResourceReport.objects.filter(restarting_at__isnull=False).count(),
        )

    def _last_hour(self, moment: datetime) -> Iterator[Metric]:
        figures = dashboard_figures(moment)
        yield GaugeMetricFamily(
            "agentcom_last_hour_completed",
            "Tasks completed in the last hour",
            value=figures["completed_last_hour"],
        )
        yield GaugeMetricFamily(
            "agentcom_last_hour_failures",
            "Failed attempts (retried or dead-lettered) in the last hour",
            value=figures["failed_last_hour"],
        )
        latency = GaugeMetricFamily(
            "agentcom_last_hour_dispatch_latency_seconds",
            "Dispatch latency (submitted to first assigned) over the last hour",
            labels=["quantile"],
        )
        for quantile, key in (
            ("0.5", "dispatch_latency_p50_s"),
            ("0.95", "dispatch_latency_p95_s"),
        ):
            if figures[key] is not None:
                latency.add_metric([quantile], figures[key])
        yield latency


def _online_states() -> list[str]:
    return [state for state in AgentState.values if state != AgentState.OFFLINE]


def scrape_registry() -> CollectorRegistry:
    """This process's counters (or, in multiprocess mode, every process's) plus the
    database gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if counted.MULTIPROC_DIR:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=counted.MULTIPROC_DIR)
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseCollector())
    return registry


class _ThisProcess(Collector):
    def collect(self) -> Iterator[Metric]:
        return REGISTRY.collect()


# --- the view -----------------------------------------------------------------------------


def _allowed_address(address: str) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in settings.AGENTCOM_METRICS_ALLOW:
        try:
            if client in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_scraper(request: HttpRequest) -> None:
    """Raise 401/403 unless the caller may read the metrics (see the module's text)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        token = header[7:].strip()
        scrape_token = settings.AGENTCOM_METRICS_TOKEN
        if scrape_token and hmac.compare_digest(token.encode(), scrape_token.encode()):
            return
        principal = authenticate(token)
        if principal is None:
            raise unauthorized()
        if not principal.is_operator:
            raise forbidden("the metrics are for operators and the scrape token")
        return
    if session_principal(getattr(request, "user", None)) is not None:
        return
    if _allowed_address(request.META.get("REMOTE_ADDR", "")):
        return
    raise unauthorized()


def metrics_view(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        error = HubError("method_not_allowed", f"{request.method} is not allowed", http_status=405)
        return _refusal(error)
    try:
        check_scraper(request)
    except HubError as error:
        return _refusal(error)
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)


def _refusal(error: HubError) -> JsonResponse:
    counted.refused("http", error.code)
    return JsonResponse(error.as_dict(), status=error.http_status)
