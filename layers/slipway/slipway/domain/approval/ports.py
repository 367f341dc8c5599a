"""What the approval gate talks to, as Protocols: ``slipway.wiring`` builds the AWS and Slack adapters, tests
pass in-memory fakes. Standard library only (the Slack callback's cold path)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from slipway.models.config import Environment, SlipwayConfig
    from slipway.models.records import (
        ApprovalRecord,
        AuditKind,
        CodePipelineAction,
        DeploymentHook,
        EnvironmentResult,
        PausedDeployment,
        ReleaseRecord,
    )
    from slipway.models.release import Plan


@dataclass(frozen=True)
class AppPins:
    """The Slack workspace (``team.id``) and app (``api_app_id``) a click must come from; None: not pinned."""

    team_id: str | None = None
    app_id: str | None = None


class ApprovalStore(Protocol):
    """Approval records, changed by conditional writes only (``DecisionConflict`` when someone wrote first)."""

    def create(self, record: ApprovalRecord) -> str | None: ...

    def get(self, approval_id: str) -> ApprovalRecord | None: ...

    def set_message(self, approval_id: str, channel: str, ts: str) -> None: ...

    def claim_post(self, approval_id: str, *, now_epoch: int, stale_after_seconds: int) -> bool: ...

    def current_plan_hash(self, release_id: str, environment: str) -> str | None: ...

    def approval_ids_for_release(self, release_id: str) -> list[str]: ...

    def add_approval(self, record: ApprovalRecord, *, user: str, at: str, now_epoch: int, new_status: str) -> None: ...

    def mark_task_completed(self, approval_id: str, at: str) -> None:
        """The decision reached whatever waited for it (``slipway.domain.approval.deliver``)."""
        ...

    def mark_delivery_failed(self, approval_id: str, problem: str) -> None:
        """Every attempt to deliver the decision failed: the next click (or void) sends it again."""
        ...

    def finish(
        self,
        record: ApprovalRecord,
        *,
        status: str,
        at: str,
        now_epoch: int | None,
        user: str | None = None,
        reason: str | None = None,
    ) -> None: ...


class PusherRecords(Protocol):
    """Who put each image (CloudTrail ``PutImage`` principals, ``slipway.adapters.pushers``)."""

    def principals(self, repository: str, digest: str) -> list[str]: ...


class SlackApi(Protocol):
    """The Slack calls the gate makes; each raises a ``SlipwayError`` when Slack refuses (``respond`` never)."""

    def post_message_in(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> tuple[str, str]: ...

    def update_message(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None: ...

    def respond(self, response_url: str, payload: dict[str, Any]) -> None: ...

    def usergroup_members(self, group_id: str) -> list[str]: ...


class TaskTokens(Protocol):
    """Completes the waiting RequestApproval task; raises ``TokenNoLongerValid`` when nothing waits any more."""

    def succeed(self, token: str, output: dict[str, Any]) -> None: ...

    def fail(self, token: str, error: str, cause: str) -> None: ...


class DeploymentHooks(Protocol):
    """Deployments held for an approval after test traffic: ECS at slipway's PAUSE hook, CodeDeploy in its ready
    wait."""

    def paused(self, pipeline: str, environment: str) -> PausedDeployment | None:
        """The deployment of the release holding the environment's lock, when it waits at the hook."""
        ...

    def ready(self, deployment_id: str) -> PausedDeployment | None:
        """slipway's CodeDeploy deployment ``deployment_id``, held in its ready wait (its READY event came)."""
        ...

    def decide(self, hook: DeploymentHook, approved: bool) -> None:
        """Go on, or roll back; ``TokenNoLongerValid`` when it no longer waits there."""
        ...


class CodePipelineApprovals(Protocol):
    """Answers a Manual approval action; raises ``TokenNoLongerValid`` when CodePipeline stopped waiting."""

    def put_result(self, action: CodePipelineAction, approved: bool, summary: str) -> None: ...


class ApprovalAudit(Protocol):
    """The audit trail, as far as approvals read and write it."""

    def release(self, release_id: str) -> ReleaseRecord | None: ...

    def environment_result(self, release_id: str, environment: str) -> EnvironmentResult | None: ...

    def event(self, release_id: str, kind: AuditKind, environment: str | None = None, **data: Any) -> None: ...

    def set_release_fields(self, release_id: str, **fields: Any) -> None: ...


class ApprovalGate(Protocol):
    """Everything the approval flow talks to; ``slipway.wiring`` creates each collaborator on first use."""

    @property
    def store(self) -> ApprovalStore: ...

    @property
    def slack(self) -> SlackApi: ...

    @property
    def tasks(self) -> TaskTokens: ...

    @property
    def codepipeline(self) -> CodePipelineApprovals: ...

    @property
    def hooks(self) -> DeploymentHooks: ...

    @property
    def audit(self) -> ApprovalAudit: ...

    @property
    def pushers(self) -> PusherRecords: ...

    def config(self) -> SlipwayConfig: ...

    def signing_secret(self) -> str: ...

    def app_pins(self) -> AppPins:
        """The team and app ids kept in the Slack secret beside the signing secret (each optional)."""
        ...

    def clock(self) -> datetime: ...

    def sleep(self, seconds: float) -> None:
        """Wait between delivery attempts (tests pass a recorder)."""
        ...

    def new_id(self) -> str: ...

    def deployment_target(self, environment: Environment, plan: Plan) -> str:
        """Where the plan deploys, in the deployer's words (the approval message shows it)."""
        ...
