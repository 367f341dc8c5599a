"""What the release flow needs, as Protocols: ``slipway.wiring`` hands it the AWS and Slack adapters, tests hand
it in-memory fakes (``tests/support/fakes.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from slipway.domain.config import ConfigSource
from slipway.models.config import Environment, SlipwayConfig
from slipway.models.records import (
    AuditEvent,
    AuditKind,
    DeploymentInfo,
    DeploymentToken,
    EnvironmentResult,
    LockRecord,
    PlanRecord,
    ReleaseRecord,
    ScanResult,
)
from slipway.models.release import Plan, Release

if TYPE_CHECKING:  # annotations only: the tasks that never render or inspect images do not load those modules
    from slipway.domain.image_facts import ImageInspector
    from slipway.domain.render.plan import TaskDefinitionRegistry


class StateStore(Protocol):
    """Locks, the newest release, plans and deployment tokens (StateTable)."""

    def now(self) -> datetime: ...

    def lock(self, pipeline: str, environment: str) -> LockRecord | None: ...

    def acquire_lock(
        self,
        pipeline: str,
        environment: str,
        release_id: str,
        *,
        phase: str,
        ttl: timedelta,
        replace_holder: str | None = None,
    ) -> bool: ...

    def set_lock_phase(self, pipeline: str, environment: str, release_id: str, phase: str) -> bool: ...

    def release_lock(self, pipeline: str, environment: str, release_id: str) -> bool: ...

    def record_latest(self, pipeline: str, release_id: str, order_key: str, *, replace: str | None = None) -> str:
        """Make ``release_id`` the newest unless a newer one is recorded (or, ``replace``: unless the one recorded is
        no longer ``replace``); returns the newest release id."""
        ...

    def put_plan(self, release_id: str, environment: str, plan_hash: str, task_definition_arn: str) -> None: ...

    def plan(self, release_id: str, environment: str) -> PlanRecord | None: ...

    def mark_deploy_started(self, release_id: str, environment: str) -> None: ...

    def set_plan_deployment(self, release_id: str, environment: str, deployment_id: str) -> None: ...

    def put_deployment_token(
        self,
        deployment_id: str,
        *,
        task_token: str,
        release: Release,
        environment: str,
        environments: list[str],
        plan: Plan,
    ) -> None: ...

    def deployment_token(self, deployment_id: str) -> DeploymentToken | None: ...

    def claim_completion(self, deployment_id: str, status: str) -> bool:
        """The first caller claims the deployment's outcome (conditional write); False for every later one."""
        ...

    def mark_recorded(self, deployment_id: str) -> None: ...


class AuditTrail(Protocol):
    """The append-only audit trail (AuditTable)."""

    def release_started(self, release: Release, environments: list[str]) -> None: ...

    def event(self, release_id: str, kind: AuditKind, environment: str | None = None, **data: Any) -> None: ...

    def environment_finished(
        self,
        release: Release,
        environment: str,
        status: str,
        *,
        plan_hash: str | None = None,
        task_definition_arn: str | None = None,
        deployment_id: str | None = None,
        cause: str | None = None,
    ) -> EnvironmentResult: ...

    def release_finished(self, release_id: str, status: str, cause: str | None = None) -> None: ...

    def set_release_fields(self, release_id: str, **fields: Any) -> None: ...

    def release(self, release_id: str) -> ReleaseRecord | None: ...

    def environment_result(self, release_id: str, environment: str) -> EnvironmentResult | None: ...

    def environment_results(self, release_id: str) -> dict[str, EnvironmentResult]: ...

    def events(self, release_id: str) -> list[AuditEvent]: ...

    def verified_good(self, pipeline: str, environment: str, limit: int = 20) -> list[EnvironmentResult]: ...


class Deployer(Protocol):
    """One way to deploy a plan to an ECS service (``deployment.type``): start it, ask how it is going, and say
    where it deploys (the approval message shows that)."""

    kind: str

    def start(self, plan: Plan, *, description: str) -> str:
        """Start the deployment; returns its id (the state-change event names it)."""
        ...

    def describe(self, deployment_id: str) -> DeploymentInfo: ...

    def find(self, plan: Plan, *, description: str) -> str | None:
        """The deployment an earlier try started for ``plan`` with ``description`` (a retry after a crash between
        creating it and recording its id), or None."""
        ...

    def target(self, plan: Plan) -> str: ...


class ScanReader(Protocol):
    """ECR image scans (the scan gate)."""

    def scan(self, registry_id: str | None, repository: str, digest: str) -> ScanResult: ...


class ReplicatedImages(Protocol):
    """An ECR registry in another region (the replica an environment there pulls from)."""

    def has_image(self, registry_id: str | None, repository: str, digest: str) -> bool: ...


class TaskTokens(Protocol):
    """Completes ``.waitForTaskToken`` tasks; raises ``TokenNoLongerValid`` when nothing waits any more."""

    def succeed(self, token: str, output: dict[str, Any]) -> None: ...

    def fail(self, token: str, error: str, cause: str) -> None: ...


class Notifier(Protocol):
    """One Slack thread per release (``slipway.domain.notify.ReleaseNotifier``); never raises."""

    def notice(self, release: Release, channel: str | None, text: str) -> None: ...


class ApprovalCloser(Protocol):
    """Closes a release's approvals that are still pending (``slipway.domain.approval.close``)."""

    def void(self, release_id: str, reason: str) -> int: ...

    def expire(self, release_id: str) -> int: ...


class ReleaseDeps(Protocol):
    """Everything the release flow talks to; built once per execution environment by ``slipway.wiring``."""

    def config(self) -> SlipwayConfig: ...

    @property
    def source(self) -> ConfigSource: ...

    @property
    def state(self) -> StateStore: ...

    @property
    def audit(self) -> AuditTrail: ...

    @property
    def scans(self) -> ScanReader: ...

    @property
    def tokens(self) -> TaskTokens: ...

    @property
    def notifier(self) -> Notifier: ...

    def registry_for(self, environment: Environment, release_id: str) -> TaskDefinitionRegistry:
        """ECS task definitions where ``environment`` lives (another account: as ``release_id``'s session)."""
        ...

    def images_in(self, region: str) -> ReplicatedImages:
        """The control plane's registry in ``region`` (where ECR replication puts the pushed images)."""
        ...

    @property
    def images(self) -> ImageInspector | None:
        """All tags / labels of the release's image; None: no lookup."""
        ...

    @property
    def approvals(self) -> ApprovalCloser: ...

    def deployer(self, environment: Environment, release_id: str) -> Deployer:
        """The deployer ``environment.deployment.type`` names, acting where the environment lives (another
        account: as ``release_id``'s session)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait before retrying within an invocation (tests pass a recorder)."""
        ...
