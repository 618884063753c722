"""Registered repositories, the fleet's daily budget and what each attempt cost.

Models of the tasks app kept beside `tasks/models.py` (imported at its end) so that
file keeps to the task lifecycle. The services are `tasks.repos` and `tasks.budgets`.
"""

from django.db import models

from agentcom_site.core.clock import now


class Repo(models.Model):
    """A repository operators registered (DESIGN.md "Repos"). Tasks name it by `name`
    (or by its `url`); the sidecar clones `url` and branches from `default_branch`
    unless the task names a branch. `priority` is the lane of its tasks whose submitter
    names none. While `paused`, or once today's spend reaches `daily_budget_usd`, its
    queued tasks are not placed; held ones go on."""

    name = models.CharField(max_length=201, unique=True)
    url = models.CharField(max_length=2000)
    default_branch = models.CharField(max_length=200, default="main")
    priority = models.PositiveSmallIntegerField(default=2)  # Priority.NORMAL
    paused = models.BooleanField(default=False)
    paused_by = models.CharField(max_length=256, blank=True, default="")
    paused_reason = models.CharField(max_length=2000, blank=True, default="")
    paused_at = models.DateTimeField(null=True, blank=True)
    # Dollars per UTC day; NULL is no budget.
    daily_budget_usd = models.DecimalField(max_digits=16, decimal_places=6, null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    updated_by = models.CharField(max_length=256, blank=True, default="")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(priority__lte=3), name="repo_priority_range")
        ]

    def __str__(self) -> str:
        return self.name


class FleetBudget(models.Model):
    """The one row (pk 1) of the fleet-wide daily budget set at run time. NULL means
    "the setting's default" (AGENTCOM_FLEET_DAILY_BUDGET_USD), the alert thresholds'
    habit, so a deploy can still move a default nobody overrode."""

    daily_budget_usd = models.DecimalField(max_digits=16, decimal_places=6, null=True, blank=True)
    updated_at = models.DateTimeField(default=now)
    updated_by = models.CharField(max_length=256, blank=True, default="")

    class Meta:
        verbose_name = "fleet budget"

    def __str__(self) -> str:
        return "fleet daily budget"


class AttemptOutcome(models.TextChoices):
    COMPLETED = "completed"
    FAILED = "failed"


class AttemptCost(models.Model):
    """What one reported attempt cost, completed or failed. The task's own cost columns
    keep only its completing result; a failed attempt spends money too, and per-day
    sums and budgets must count it (DESIGN.md "Costs"). Written in the transaction of
    the completion or failure; never changed afterwards."""

    task = models.ForeignKey("tasks.Task", on_delete=models.CASCADE, related_name="attempt_costs")
    generation = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices)
    agent_id = models.CharField(max_length=128, blank=True, default="")
    repo = models.CharField(max_length=2000, blank=True, default="")
    capability_key = models.CharField(max_length=2048, blank=True, default="")
    tokens_in = models.PositiveBigIntegerField(null=True, blank=True)
    tokens_out = models.PositiveBigIntegerField(null=True, blank=True)
    model = models.CharField(max_length=128, blank=True, default="")
    cost_usd = models.DecimalField(max_digits=16, decimal_places=6, null=True, blank=True)
    cost_computed = models.BooleanField(default=False)
    execution_ms = models.PositiveBigIntegerField(null=True, blank=True)
    iterations = models.PositiveBigIntegerField(null=True, blank=True)
    reported_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["reported_at", "pk"]
        indexes = [
            # Sums over a range of days (tasks.costs) and the fleet's spend today.
            models.Index(fields=["reported_at"], name="attemptcost_reported_at"),
            # One repo's spend today (tasks.budgets), checked by every claim of its tasks.
            models.Index(fields=["repo", "reported_at"], name="attemptcost_repo_day"),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} g{self.generation} {self.outcome}"
