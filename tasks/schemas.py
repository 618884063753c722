"""Input schemas for task requests (PROTOCOL.md §4.5), shared by HTTP and admin forms."""

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag

from agentcom_site.core.gitnames import BranchName, Command, RelativePath, RepoRef
from agentcom_site.core.limits import (
    DIFF_GLOBS_MAX,
    FILE_HINTS_MAX,
    MAX_RETRIES_MAX,
    STEP_TIMEOUT_S_MAX,
    VERIFICATION_RETRIES_MAX,
    VERIFICATION_STEPS_MAX,
)
from agentcom_site.core.validation import (
    LIMITS,
    TAG_PREFIX,
    AgentId,
    Capability,
    Strict,
    TimeMs,
    stored_json,
    text,
)
from tasks.complexity import LEVELS
from tasks.models import Priority

PRIORITY_NAMES = {
    "urgent": Priority.URGENT,
    "critical": Priority.URGENT,  # legacy v1.0 name
    "high": Priority.HIGH,
    "normal": Priority.NORMAL,
    "low": Priority.LOW,
}


def parse_priority(value: Any) -> Any:
    """Names (any case, `critical` = urgent) become integers; integers pass to the range check."""
    if isinstance(value, str):
        try:
            return int(PRIORITY_NAMES[value.strip().lower()])
        except KeyError:
            raise ValueError("priority must be urgent, high, normal, low or 0-3") from None
    return value


PriorityValue = Annotated[int, BeforeValidator(parse_priority), Field(ge=0, le=3)]
TaskId = text("task_id", min_length=1)
Metadata = stored_json("metadata")
MaxRetries = Annotated[int, Field(ge=0, le=MAX_RETRIES_MAX)]


TimeoutS = Annotated[int, Field(ge=1, le=STEP_TIMEOUT_S_MAX)]


# --- verification steps: what the sidecar checks before it reports success -------------


class CommandSucceedsStep(Strict):
    type: Literal["command_succeeds"]
    command: Command
    timeout_s: TimeoutS


class TestsPassStep(Strict):
    type: Literal["tests_pass"]
    command: Command
    timeout_s: TimeoutS | None = None


class FileExistsStep(Strict):
    type: Literal["file_exists"]
    path: RelativePath


class GitCleanStep(Strict):
    type: Literal["git_clean"]


class DiffWithinStep(Strict):
    type: Literal["diff_within"]
    paths: Annotated[list[RelativePath], Field(min_length=1, max_length=DIFF_GLOBS_MAX)]


STEP_TYPES = {
    "command_succeeds": CommandSucceedsStep,
    "tests_pass": TestsPassStep,
    "file_exists": FileExistsStep,
    "git_clean": GitCleanStep,
    "diff_within": DiffWithinStep,
}


def _step_kind(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    # Any JSON may come as the type: only a known string selects a branch.
    return f"{TAG_PREFIX}{kind}" if isinstance(kind, str) and kind in STEP_TYPES else None


# One typed step; an unknown `type` is refused naming the five there are.
VerificationStep = Annotated[
    Annotated[CommandSucceedsStep, Tag(f"{TAG_PREFIX}command_succeeds")]
    | Annotated[TestsPassStep, Tag(f"{TAG_PREFIX}tests_pass")]
    | Annotated[FileExistsStep, Tag(f"{TAG_PREFIX}file_exists")]
    | Annotated[GitCleanStep, Tag(f"{TAG_PREFIX}git_clean")]
    | Annotated[DiffWithinStep, Tag(f"{TAG_PREFIX}diff_within")],
    Discriminator(
        _step_kind,
        custom_error_type="invalid_value",
        custom_error_message="a step's type is one of " + ", ".join(STEP_TYPES),
    ),
]
# Steps that run a command on the agent's machine: only operators may set them.
COMMAND_STEPS = ("command_succeeds", "tests_pass")


class DefinitionOfDone(Strict):
    """What "done" means for a task (PROTOCOL.md §4.5); every field optional."""

    repo: RepoRef | None = None
    branch: BranchName | None = None
    file_hints: Annotated[list[RelativePath], Field(max_length=FILE_HINTS_MAX)] = Field(
        default_factory=list
    )
    success_criteria: text("success_criteria") | None = None  # type: ignore[valid-type]
    verification_steps: Annotated[
        list[VerificationStep], Field(max_length=VERIFICATION_STEPS_MAX)
    ] = Field(default_factory=list)
    max_verification_retries: Annotated[int, Field(ge=0, le=VERIFICATION_RETRIES_MAX)] = 2
    complexity: Literal[LEVELS] | None = None  # type: ignore[valid-type]

    def runs_commands(self) -> bool:
        return any(step.type in COMMAND_STEPS for step in self.verification_steps)


class TaskSubmitIn(DefinitionOfDone):
    description: text("description", min_length=1)  # type: ignore[valid-type]
    title: text("title") | None = None  # type: ignore[valid-type]
    priority: PriorityValue = Priority.NORMAL
    metadata: Metadata = Field(default_factory=dict)  # type: ignore[valid-type]
    max_retries: MaxRetries = 3
    complete_by: TimeMs | None = None
    needed_capabilities: Annotated[list[Capability], Field(max_length=64)] = Field(
        default_factory=list
    )
    idempotency_key: text("idempotency_key", min_length=1) | None = None  # type: ignore[valid-type]
    depends_on: Annotated[list[TaskId], Field(max_length=100)] = Field(default_factory=list)  # type: ignore[valid-type]
    assign_to: AgentId | None = None
    # Delegation: the task this one is part of (an agent's submission defaults to the
    # task it holds; tasks.delegation).
    parent: TaskId | None = None  # type: ignore[valid-type]


BATCH_MAX = 500


class TaskBatchIn(Strict):
    tasks: Annotated[list[TaskSubmitIn], Field(min_length=1, max_length=BATCH_MAX)]


class PushTaskIn(DefinitionOfDone):
    agent_id: AgentId
    description: text("description", min_length=1)  # type: ignore[valid-type]
    title: text("title") | None = None  # type: ignore[valid-type]
    metadata: Metadata = Field(default_factory=dict)  # type: ignore[valid-type]
    priority: PriorityValue = Priority.NORMAL
    max_retries: MaxRetries = 3


class CancelIn(Strict):
    reason: Annotated[str, Field(max_length=LIMITS["reason"])] = "cancelled"


class AnswerIn(Strict):
    """An operator's answer to the holder's question (PROTOCOL.md §3.9)."""

    answer: text("answer", min_length=1)  # type: ignore[valid-type]
