"""The hub's counters and histograms, and the cheap calls that move them.

Each figure is counted at the one place where its thing happens (the task queue's
`record`, the socket consumers, the HTTP middleware, the rate limiter, the scheduler,
the sweep); the helpers here are all those places call. Figures the database already
holds (tasks by status, queue age, agents by state) are not counted here: the
`/metrics` view reads them from the database at scrape time (operations/metrics.py),
so every process reports the same truth.

Scaled mode: with `PROMETHEUS_MULTIPROC_DIR` set (the same directory for every hub
process and worker on a machine), prometheus-client keeps each process's values in
memory-mapped files there and `/metrics` on any process sums them all
(`prepare_process` marks the processes that are gone). Without it, the figures are
this process's own (embedded mode).

Label values are bounded: frame types the hub does not know count as "unknown", and
every other label goes through a `BoundedLabel` that admits a fixed number of
distinct short values and folds the rest into "other". No task id, agent id or raw
path is ever a label.
"""

import os
import re
import threading
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import Counter, Histogram, disable_created_metrics

# The `_created` series double every counter's lines and no dashboard reads them.
disable_created_metrics()

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROC_DIR:
    # The first metric below opens its file there: the directory must exist by then.
    Path(MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
OTHER = "other"
UNKNOWN = "unknown"
_LABEL_TEXT = re.compile(r"[A-Za-z0-9_.:/<>\- ]{1,80}")


class BoundedLabel:
    """Admits at most `limit` distinct label values; the rest become "other"."""

    def __init__(self, limit: int, known: Iterable[str] = ()) -> None:
        self.limit = limit
        self._seen: set[str] = set(known)
        self._lock = threading.Lock()

    def __call__(self, value: object) -> str:
        if not isinstance(value, str):
            return OTHER
        if value in self._seen:
            return value
        if not _LABEL_TEXT.fullmatch(value):
            return OTHER
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return OTHER


# --- tasks (tasks/queue.py `record`, after commit) ------------------------------------
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
DURATION_BUCKETS = (0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200)

TRANSITIONS = Counter(
    "agentcom_task_transitions_total", "Task transitions by event", ["event", "to_status"]
)
RETRIES = Counter("agentcom_task_retries_total", "Failed attempts sent back to the queue")
DEAD_LETTERS = Counter("agentcom_task_dead_letters_total", "Tasks moved to the dead letters")
DISPATCH_LATENCY = Histogram(
    "agentcom_dispatch_latency_seconds",
    "Submitted to first assigned",
    buckets=LATENCY_BUCKETS,
)
ACCEPT_DURATION = Histogram(
    "agentcom_task_accept_seconds", "Assigned to accepted", buckets=LATENCY_BUCKETS
)
WORK_DURATION = Histogram(
    "agentcom_task_work_seconds",
    "Accepted to finished (completed, or a failure)",
    ["outcome"],
    buckets=DURATION_BUCKETS,
)
_event_label = BoundedLabel(32)
_status_label = BoundedLabel(
    8,
    (
        "queued",
        "assigned",
        "working",
        "input_required",
        "completed",
        "dead_letter",
        "cancelled",
    ),
)


def task_transition(
    event: str,
    to_status: str,
    *,
    dispatch_s: float | None = None,
    accept_s: float | None = None,
    work_s: float | None = None,
) -> None:
    """One committed task transition, with the durations it ends (seconds)."""
    TRANSITIONS.labels(_event_label(event), _status_label(to_status)).inc()
    if event == "retry":
        RETRIES.inc()
    elif event == "dead_letter":
        DEAD_LETTERS.inc()
    if dispatch_s is not None:
        DISPATCH_LATENCY.observe(max(dispatch_s, 0.0))
    if accept_s is not None:
        ACCEPT_DURATION.observe(max(accept_s, 0.0))
    if work_s is not None:
        WORK_DURATION.labels("completed" if event == "completed" else "failed").observe(
            max(work_s, 0.0)
        )


# --- sockets (the consumers) ----------------------------------------------------------
FRAMES = Counter(
    "agentcom_ws_frames_total", "WebSocket frames by direction and type", ["direction", "type"]
)
_out_type = BoundedLabel(64)


def frame_in(kind: str, known: bool) -> None:
    """An inbound frame; `known`: its type is one the hub handles."""
    FRAMES.labels("in", kind if known else UNKNOWN).inc()


def frame_out(kind: object) -> None:
    FRAMES.labels("out", _out_type(kind)).inc()


AGENT_RESTARTS = Counter(
    "agentcom_agent_restarts_total", "agent_restarting frames: sidecars about to restart"
)

# --- refusals (HTTP error rendering, socket error frames, rate limiter) -------------------
REFUSALS = Counter(
    "agentcom_refusals_total", "Refused requests and frames by error code", ["channel", "code"]
)
RATE_LIMITED = Counter(
    "agentcom_rate_limited_total", "Actions refused for the rate, by budget", ["budget"]
)
_code_label = BoundedLabel(128)
_budget_label = BoundedLabel(16)


def refused(channel: str, code: str) -> None:
    """A refusal answered over `channel` ("http" or "ws")."""
    # `task_accept_failed: not_holder` keeps its verb and reason: a fixed set.
    REFUSALS.labels(channel, _code_label(code)).inc()


def rate_limited(budget: str) -> None:
    RATE_LIMITED.labels(_budget_label(budget)).inc()


# --- HTTP (agentcom_site.middleware) ----------------------------------------------------
HTTP_REQUESTS = Counter(
    "agentcom_http_requests_total",
    "HTTP requests by route pattern, method and status",
    ["route", "method", "status"],
)
_route_label = BoundedLabel(256)
_method_label = BoundedLabel(8, ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


def http_request(route: str, method: str, status: int) -> None:
    HTTP_REQUESTS.labels(_route_label(route), _method_label(method), str(status)).inc()


# --- scheduler and sweep --------------------------------------------------------------------
SCHEDULER_PASS = Histogram(
    "agentcom_scheduler_pass_seconds",
    "Duration of one scheduling pass",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SWEEP_ACTIONS = Counter("agentcom_sweep_actions_total", "What the sweep did, by kind", ["action"])
_sweep_label = BoundedLabel(16)


def scheduler_pass(seconds: float) -> None:
    """One full matching pass (`schedule_pass`); a single task placed on its event is
    counted as its `assigned` transition only."""
    SCHEDULER_PASS.observe(seconds)


def sweep_actions(counts: dict[str, int]) -> None:
    for action, count in counts.items():
        if count:
            SWEEP_ACTIONS.labels(_sweep_label(action)).inc(count)


# --- processes ----------------------------------------------------------------------------


def prepare_process() -> None:
    """At process start (multiprocess mode): clear live gauges left under this pid by a
    dead process, and those of every process that left files but is gone.

    Counter and histogram files stay: a dead process's counts are part of the hub's
    totals (dropping them would make every sum fall, which Prometheus reads as a reset),
    and a new process with a reused pid simply counts on from them. Empty the
    directory when the whole deployment restarts (OPERATIONS.md).
    """
    if not MULTIPROC_DIR:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid(), MULTIPROC_DIR)
    for path in Path(MULTIPROC_DIR).glob("*.db"):
        pid = _pid_of(path)
        if pid is not None and pid != os.getpid() and not _alive(pid):
            multiprocess.mark_process_dead(pid, MULTIPROC_DIR)


def forget_process() -> None:
    """A clean stop: this process's live gauges go (its counters stay in the sums)."""
    if MULTIPROC_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), MULTIPROC_DIR)


def _pid_of(path: Path) -> int | None:
    tail = path.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
