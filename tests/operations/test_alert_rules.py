"""The alert rules as pure functions of facts and thresholds."""

from agentcom_site.operations import alerts
from agentcom_site.operations.facts import Facts, Thresholds
from tasks.models import capability_key

T = Thresholds(
    agent_offline_s=600,
    queue_growth=10,
    queue_window_s=900,
    failure_rate=0.5,
    failure_min=4,
    failure_window_s=900,
    stuck_after_s=240,
    dead_letter_window_s=3600,
    cooldown_s=900,
)
NOW = 10_000_000


def rules_fired(f: Facts) -> set[tuple[str, str]]:
    return {(c.rule, c.key) for c in alerts.conditions(f, T)}


def test_a_quiet_hub_raises_nothing():
    f = Facts(moment_ms=NOW, capability_sets={frozenset(): (1, 1)})
    assert rules_fired(f) == set()


def test_an_agent_offline_past_the_threshold_fires_only_then():
    f = Facts(moment_ms=NOW, offline_agents=[("a1", NOW - 601_000), ("a2", NOW - 10_000)])
    assert [c.key for c in alerts.agent_offline(f, T)] == ["a1"]


def test_queue_growing_compares_the_lowest_depth_in_the_window():
    grown = Facts(moment_ms=NOW, queue_samples=[(NOW - 800_000, 5), (NOW - 60_000, 12), (NOW, 15)])
    assert [c.rule for c in alerts.queue_growing(grown, T)] == ["queue_growing"]
    old = Facts(moment_ms=NOW, queue_samples=[(NOW - 1_000_000, 0), (NOW, 15)])
    assert alerts.queue_growing(old, T) == []  # the low point is outside the window


def test_failure_rate_needs_enough_attempts_and_a_high_share():
    assert alerts.failure_rate(Facts(moment_ms=NOW, failed=3, succeeded=0), T) == []
    assert alerts.failure_rate(Facts(moment_ms=NOW, failed=2, succeeded=3), T) == []
    fired = alerts.failure_rate(Facts(moment_ms=NOW, failed=3, succeeded=2), T)
    assert fired[0].facts["rate"] == 0.6


def test_stuck_tasks_and_dead_letters_fire_while_there_are_any():
    f = Facts(
        moment_ms=NOW,
        stuck=[("task-1", "a1", NOW - 300_000)],
        stuck_count=1,
        dead_letters=["task-2"],
        dead_letter_count=1,
    )
    assert {("stuck_tasks", ""), ("dead_letters", "")} <= rules_fired(f)


def test_a_task_nobody_can_take_and_a_capability_all_offline():
    f = Facts(
        moment_ms=NOW,
        queued_keys={capability_key(["gpu"]): 2, capability_key(["rust", "web"]): 1},
        capability_sets={frozenset({"gpu"}): (0, 3), frozenset({"web"}): (1, 1)},
    )
    assert rules_fired(f) == {
        ("unplaceable_tasks", capability_key(["rust", "web"])),
        ("capability_offline", "gpu"),
    }


def test_a_question_unanswered_past_the_threshold_fires_per_task():
    f = Facts(moment_ms=NOW, questions=[("task-a", "asker", NOW - 901_000)])
    found = alerts.questions_unanswered(f, T)
    assert [(c.rule, c.key) for c in found] == [("question_unanswered", "task-a")]
    assert found[0].facts == {"task_id": "task-a", "agent_id": "asker", "asked_at": NOW - 901_000}
    assert ("question_unanswered", "task-a") in rules_fired(f)
