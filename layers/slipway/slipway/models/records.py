"""What slipway stores, as typed records: the adapters read and write them, the domain never sees ``pk``/``sk``.

Standard library only (dataclasses): the Slack callback imports these on its cold path. ``Release`` and ``Plan``
(pydantic) appear in annotations only; the storage adapters build them.

- StateTable (short-lived, TTL): ``LockRecord``, ``PlanRecord``, ``DeploymentToken``, ``ApprovalRecord``.
- AuditTable (append-only): ``ReleaseRecord`` (a release and its status), ``EnvironmentResult`` (one environment's
  outcome; SUCCEEDED ones are also the verified-good list), ``AuditEvent`` (one thing that happened, of an
  ``AuditKind``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slipway.models.release import Plan, Release


class AuditKind(StrEnum):
    """The kind of every audit event. Data each carries (``AuditEvent.data``):

    - PLAN: plan_hash, task_definition_arn, reused_revision, appspec_content, diff, ...
    - APPROVAL_REQUESTED: approval_id, channel, message_ts, expires, required, approvers, plan_hash
    - APPROVAL_DECISION: approval_id, user, decision (approve | reject), at, complete (written before the decision
      is delivered; whether it was is the approval record's ``task_completed_at``)
    - SUPERSEDED: by (the newer release that replaced this one while it waited)
    - SUPERSEDED_RELEASE: release (the older release this one replaced)
    - DEPLOYMENT_STARTED: deployment_id, task_definition_arn, application, deployment_group
    - DEPLOYMENT_FINISHED_LATE: deployment_id, status, release_status (a deployment ended after its release had
      already ended, e.g. a timeout failed it while CodeDeploy went on: history is not rewritten, this is recorded)
    - RELEASE_FINISHED: status, cause, locks (released), locks_kept (still deploying)
    """

    PLAN = "plan"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_DECISION = "approval_decision"
    SUPERSEDED = "superseded"
    SUPERSEDED_RELEASE = "superseded_release"
    DEPLOYMENT_STARTED = "deployment_started"
    DEPLOYMENT_FINISHED_LATE = "deployment_finished_late"
    RELEASE_FINISHED = "release_finished"


class ApprovalStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    SUPERSEDED = "SUPERSEDED"
    VOID = "VOID"


# ---------------------------------------------------------------------------------------------- StateTable
@dataclass(frozen=True)
class LockRecord:
    """``LOCK#<pipeline>#<env>``: which release holds an environment, and what it is doing there."""

    pipeline: str
    environment: str
    holder: str
    phase: str  # preparing | awaiting_approval | ready_to_deploy | deploying
    acquired_at: str
    expires_at: int


@dataclass(frozen=True)
class PlanRecord:
    """The plan PrepareEnvironment made for (release, environment); ``deployment_id`` once Deploy started it."""

    release_id: str
    environment: str
    plan_hash: str
    task_definition_arn: str
    at: str
    deployment_id: str | None = None
    deploy_started_at: str | None = None  # set just before CreateDeployment: a retry then looks for the deployment


@dataclass(frozen=True)
class DeploymentToken:
    """The Deploy task waiting for its deployment's state-change event."""

    deployment_id: str
    task_token: str
    release: Release
    environment: str
    environments: list[str]
    plan: Plan
    created_at: str
    completed_status: str | None = None  # the one claim (SUCCEEDED, FAILED, STOPPED, TIMED_OUT): first writer wins
    completed_at: str | None = None
    recorded_at: str | None = None  # audit rows written, lock released, task told: nothing left to do


@dataclass(frozen=True)
class Decision:
    user: str
    at: str
    decision: str  # approve | rejected (a decision that closed the approval carries the new status, lower case)
    # The environment decided on, in a release's history (ReleaseHistory.approvals); an approval record's own
    # decisions leave it out (the record names its environment).
    environment: str | None = None


@dataclass(frozen=True)
class CodePipelineAction:
    """The Manual approval action a CodePipeline approval answers (PutApprovalResult's arguments)."""

    pipeline_name: str
    stage_name: str
    action_name: str
    token: str
    region: str = ""


@dataclass(frozen=True)
class DeploymentHook:
    """A deployment held for an approval after test traffic: an ECS service deployment at slipway's PAUSE hook
    (ContinueServiceDeployment answers it), or a CodeDeploy deployment in its ready wait (ContinueDeployment /
    StopDeployment)."""

    deployment_id: str  # the service deployment ARN, or CodeDeploy's deployment id
    hook_id: str  # ECS: the PAUSE hook's id; CodeDeploy: READY_WAIT
    kind: str = "ecs"  # ecs | codedeploy: which deployer answers it


@dataclass
class ApprovalRecord:
    """``APPROVAL#<id>``: one approval request, for a release's environment (stepfunctions) or a CodePipeline
    Manual approval action (codepipeline). Decisions change it through conditional writes only."""

    approval_id: str
    kind: str  # stepfunctions | codepipeline
    status: str
    pipeline: str
    environment: str
    requested_at: str
    expiry: int  # epoch seconds: no decision counts after this
    expires_at: int  # epoch seconds: the TTL (the record outlives its expiry, so a late click reads "Expired")
    required: int
    approvers_users: list[str]
    approvers_groups: list[str]
    allow_pusher: bool
    channel: str
    title: str
    summary_blocks: str  # JSON: the message without its status and buttons, for every later update
    approved_by: list[str] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    task_token: str | None = None
    release_id: str | None = None
    digest: str | None = None
    plan_hash: str | None = None
    pushed_by: str | None = None
    pushers: list[str] = field(default_factory=list)  # Slack users who pushed the image (may not approve)
    codepipeline: CodePipelineAction | None = None
    channel_id: str | None = None
    message_ts: str | None = None
    reason: str | None = None
    updated_at: str | None = None
    posting_since: int | None = None
    task_completed_at: str | None = None  # when the decision reached the task token / CodePipeline action
    delivery_problem: str | None = None  # why the last delivery failed (every attempt throttled, ...)
    deployment_hook: DeploymentHook | None = None  # after test traffic: the decision continues or rolls back this


# ---------------------------------------------------------------------------------------------- AuditTable
@dataclass(frozen=True)
class EnvironmentResult:
    """One environment's outcome in a release (``status``: SUCCEEDED or FAILED)."""

    release_id: str
    pipeline: str
    environment: str
    digest: str
    status: str
    finished_at: str
    plan_hash: str | None = None
    task_definition_arn: str | None = None
    deployment_id: str | None = None
    cause: str | None = None


@dataclass(frozen=True)
class AuditEvent:
    release_id: str
    kind: AuditKind
    at: str
    environment: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReleaseRecord:
    """A release as the audit trail knows it: its input, status and the facts learned while it ran."""

    release_id: str
    pipeline: str
    status: str  # RUNNING | SUCCEEDED | FAILED | REJECTED | EXPIRED | SUPERSEDED
    started_at: str
    environments: list[str]
    release: Release
    finished_at: str | None = None
    cause: str | None = None
    tags: list[str] = field(default_factory=list)
    commit: str | None = None
    commit_source: str | None = None
    image_facts_at: str | None = None
    slack_thread_ts: str | None = None
    slack_channel: str | None = None
    retried_by: str | None = None  # the release id of the next attempt (`slipway retry`, a new CodePipeline job)
    pusher_principals: list[str] = field(default_factory=list)  # who put the image (CloudTrail), at approval time
    pushed_by_users: list[str] = field(default_factory=list)  # those of them people.yaml maps to Slack users

    @property
    def running(self) -> bool:
        return self.status == "RUNNING"

    @property
    def attempt(self) -> int:
        return self.release.attempt


@dataclass(frozen=True)
class ReleaseHistory:
    """A release with everything that happened to it: what `slipway history` shows and DORA reads."""

    record: ReleaseRecord
    results: dict[str, EnvironmentResult] = field(default_factory=dict)
    events: list[AuditEvent] = field(default_factory=list)

    def approvals(self) -> list[Decision]:
        """Every approve/reject click recorded for the release, oldest first, each with its environment."""
        return [
            Decision(str(e.data.get("user")), str(e.data.get("at") or e.at), str(e.data.get("decision")), e.environment)
            for e in self.events
            if e.kind is AuditKind.APPROVAL_DECISION and e.data.get("user")
        ]


# ---------------------------------------------------------------------------------------------- what AWS answers
@dataclass(frozen=True)
class StartOutcome:
    """StartExecution of a release: ``started`` a new execution, or ``duplicate`` (it already existed)."""

    status: str  # started | duplicate
    execution_arn: str


@dataclass(frozen=True)
class ExecutionState:
    status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED | PENDING_REDRIVE
    output: dict[str, Any] | None = None
    error: str | None = None
    cause: str | None = None


@dataclass(frozen=True)
class ResolvedImage:
    """A tag (or digest) of a repository, pinned: its digest, every tag it carries, when it was pushed."""

    digest: str
    tags: list[str] = field(default_factory=list)
    pushed_at: datetime | None = None


@dataclass(frozen=True)
class ScanResult:
    """An image's ECR scan: status (COMPLETE, IN_PROGRESS, FAILED, ... or NOT_FOUND) and counts by severity."""

    status: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DeploymentInfo:
    """What a deployer says about one deployment, whatever the deployer."""

    deployment_id: str
    status: str  # the deployer's own word (CodeDeploy: Created, InProgress, Succeeded, Failed, Stopped, ...)
    running: bool
    succeeded: bool
    kind: str = "CodeDeploy"
    error_code: str | None = None
    error_message: str | None = None
    rollback_id: str | None = None
    rollback_message: str | None = None


@dataclass(frozen=True)
class PausedDeployment:
    """A deployment slipway started (its stored task record) waiting at the approval hook."""

    token: DeploymentToken
    hook: DeploymentHook
