"""In-memory fakes of the domain's ports, so release and approval decisions can be unit-tested without moto.

Each keeps the semantics the domain relies on (a lock taken only when free, expired or ours; an approval counted
only while pending, unexpired, new and unchanged; a plan hash that must still match), and nothing more.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slipway.domain.approval.ports import AppPins
from slipway.domain.config import ConfigSource
from slipway.errors import ApprovalExists, DecisionConflict, TokenNoLongerValid
from slipway.models.config import Environment, SlipwayConfig
from slipway.models.records import (
    ApprovalRecord,
    ApprovalStatus,
    AuditEvent,
    AuditKind,
    CodePipelineAction,
    Decision,
    DeploymentHook,
    DeploymentInfo,
    DeploymentToken,
    EnvironmentResult,
    LockRecord,
    PausedDeployment,
    PlanRecord,
    ReleaseRecord,
    ScanResult,
)
from slipway.models.release import Plan, Release
from tests.support.clock import Clock

_ids = itertools.count(1)


# ---------------------------------------------------------------------------------------------- release flow
@dataclass
class InMemoryState:
    clock: Clock
    locks: dict[tuple[str, str], LockRecord] = field(default_factory=dict)
    latest: dict[str, tuple[str, str]] = field(default_factory=dict)
    plans: dict[tuple[str, str], PlanRecord] = field(default_factory=dict)
    tokens: dict[str, DeploymentToken] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    def lock(self, pipeline: str, environment: str) -> LockRecord | None:
        return self.locks.get((pipeline, environment))

    def acquire_lock(
        self,
        pipeline: str,
        environment: str,
        release_id: str,
        *,
        phase: str,
        ttl: timedelta,
        replace_holder: str | None = None,
    ) -> bool:
        now = self.now()
        held = self.locks.get((pipeline, environment))
        free = (
            held is None
            or held.holder == release_id
            or held.expires_at < int(now.timestamp())
            or (replace_holder is not None and held.holder == replace_holder)
        )
        if not free:
            return False
        self.locks[(pipeline, environment)] = LockRecord(
            pipeline, environment, release_id, phase, now.isoformat(), int((now + ttl).timestamp())
        )
        return True

    def set_lock_phase(self, pipeline: str, environment: str, release_id: str, phase: str) -> bool:
        held = self.locks.get((pipeline, environment))
        if held is None or held.holder != release_id:
            return False
        self.locks[(pipeline, environment)] = dataclasses.replace(held, phase=phase)
        return True

    def release_lock(self, pipeline: str, environment: str, release_id: str) -> bool:
        held = self.locks.get((pipeline, environment))
        if held is None or held.holder != release_id:
            return False
        del self.locks[(pipeline, environment)]
        return True

    def record_latest(self, pipeline: str, release_id: str, order_key: str, *, replace: str | None = None) -> str:
        current = self.latest.get(pipeline)
        if current is None or current[0] in (release_id, replace) or current[1] < order_key:
            self.latest[pipeline] = (release_id, order_key)
            return release_id
        return current[0]

    def put_plan(self, release_id: str, environment: str, plan_hash: str, task_definition_arn: str) -> None:
        self.plans[(release_id, environment)] = PlanRecord(
            release_id, environment, plan_hash, task_definition_arn, self.now().isoformat()
        )

    def plan(self, release_id: str, environment: str) -> PlanRecord | None:
        return self.plans.get((release_id, environment))

    def mark_deploy_started(self, release_id: str, environment: str) -> None:
        plan = self.plans[(release_id, environment)]
        if plan.deploy_started_at is None:
            self.plans[(release_id, environment)] = dataclasses.replace(plan, deploy_started_at=self.now().isoformat())

    def set_plan_deployment(self, release_id: str, environment: str, deployment_id: str) -> None:
        plan = self.plans[(release_id, environment)]
        self.plans[(release_id, environment)] = dataclasses.replace(plan, deployment_id=deployment_id)

    def put_deployment_token(
        self,
        deployment_id: str,
        *,
        task_token: str,
        release: Release,
        environment: str,
        environments: list[str],
        plan: Plan,
    ) -> None:
        self.tokens[deployment_id] = DeploymentToken(
            deployment_id, task_token, release, environment, environments, plan, self.now().isoformat()
        )

    def deployment_token(self, deployment_id: str) -> DeploymentToken | None:
        return self.tokens.get(deployment_id)

    def claim_completion(self, deployment_id: str, status: str) -> bool:
        token = self.tokens.get(deployment_id)
        if token is None or token.completed_status is not None:
            return False
        self.tokens[deployment_id] = dataclasses.replace(
            token, completed_status=status, completed_at=self.now().isoformat()
        )
        return True

    def mark_recorded(self, deployment_id: str) -> None:
        token = self.tokens[deployment_id]
        if token.recorded_at is None:
            self.tokens[deployment_id] = dataclasses.replace(token, recorded_at=self.now().isoformat())


@dataclass
class InMemoryAudit:
    clock: Clock
    records: dict[str, ReleaseRecord] = field(default_factory=dict)
    results: dict[tuple[str, str], EnvironmentResult] = field(default_factory=dict)
    good: list[EnvironmentResult] = field(default_factory=list)
    log: list[AuditEvent] = field(default_factory=list)

    def release_started(self, release: Release, environments: list[str]) -> None:
        self.records.setdefault(
            release.release_id,
            ReleaseRecord(
                release.release_id, release.pipeline, "RUNNING", self.clock().isoformat(), environments, release
            ),
        )

    def event(self, release_id: str, kind: AuditKind, environment: str | None = None, **data: Any) -> None:
        self.log.append(AuditEvent(release_id, AuditKind(kind), self.clock().isoformat(), environment, data))

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
    ) -> EnvironmentResult:
        result = EnvironmentResult(
            release.release_id,
            release.pipeline,
            environment,
            release.digest,
            status,
            self.clock().isoformat(),
            plan_hash,
            task_definition_arn,
            deployment_id,
            cause,
        )
        recorded = self.results.get((release.release_id, environment))
        if deployment_id and recorded and (recorded.deployment_id, recorded.status) == (deployment_id, status):
            return recorded  # the same outcome delivered again: one row
        self.results[(release.release_id, environment)] = result
        if status == "SUCCEEDED":
            self.good.insert(0, result)
        return result

    def release_finished(self, release_id: str, status: str, cause: str | None = None) -> None:
        record = self.records[release_id]
        self.records[release_id] = dataclasses.replace(
            record, status=status, cause=cause or record.cause, finished_at=self.clock().isoformat()
        )

    def set_release_fields(self, release_id: str, **fields: Any) -> None:
        self.records[release_id] = dataclasses.replace(self.records[release_id], **fields)

    def release(self, release_id: str) -> ReleaseRecord | None:
        return self.records.get(release_id)

    def environment_result(self, release_id: str, environment: str) -> EnvironmentResult | None:
        return self.results.get((release_id, environment))

    def environment_results(self, release_id: str) -> dict[str, EnvironmentResult]:
        return {env: r for (rid, env), r in self.results.items() if rid == release_id}

    def events(self, release_id: str) -> list[AuditEvent]:
        return [e for e in self.log if e.release_id == release_id]

    def verified_good(self, pipeline: str, environment: str, limit: int = 20) -> list[EnvironmentResult]:
        return [r for r in self.good if (r.pipeline, r.environment) == (pipeline, environment)][:limit]

    def kinds(self, release_id: str) -> list[str]:
        return [e.kind.value for e in self.events(release_id)]


@dataclass
class FakeDeployer:
    kind: str = "FakeDeploy"
    started: list[Plan] = field(default_factory=list)
    infos: dict[str, DeploymentInfo] = field(default_factory=dict)
    descriptions: dict[str, tuple[str, str]] = field(default_factory=dict)

    def start(self, plan: Plan, *, description: str) -> str:
        self.started.append(plan)
        deployment_id = f"d-{next(_ids):09d}"
        self.descriptions[deployment_id] = (plan.plan_hash, description)
        self.infos[deployment_id] = DeploymentInfo(deployment_id, "InProgress", running=True, succeeded=False)
        return deployment_id

    def describe(self, deployment_id: str) -> DeploymentInfo:
        return self.infos[deployment_id]

    def find(self, plan: Plan, *, description: str) -> str | None:
        found = [d for d, (p, text) in self.descriptions.items() if text == description and p == plan.plan_hash]
        return found[-1] if found else None

    def finish(self, deployment_id: str, *, succeeded: bool, error: str | None = None) -> None:
        status = "Succeeded" if succeeded else "Failed"
        self.infos[deployment_id] = DeploymentInfo(
            deployment_id, status, running=False, succeeded=succeeded, kind=self.kind, error_message=error
        )

    def target(self, plan: Plan) -> str:
        return f"fake {plan.deployment_group}"


@dataclass
class FakeTokens:
    succeeded: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    fail_next: list[Exception] = field(default_factory=list)

    def _check(self, token: str) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)
        if token in self.gone:
            raise TokenNoLongerValid("Step Functions no longer waits for this task (TaskTimedOut)")

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        self._check(token)
        self.succeeded.append((token, output))
        self.gone.add(token)

    def fail(self, token: str, error: str, cause: str) -> None:
        self._check(token)
        self.failed.append((token, error, cause))
        self.gone.add(token)


@dataclass
class FakeScans:
    result: ScanResult = field(default_factory=lambda: ScanResult("COMPLETE"))
    asked: list[tuple[str | None, str, str]] = field(default_factory=list)

    def scan(self, registry_id: str | None, repository: str, digest: str) -> ScanResult:
        self.asked.append((registry_id, repository, digest))
        return self.result


@dataclass
class RecordingNotifier:
    notices: list[str] = field(default_factory=list)

    def notice(self, release: Release, channel: str | None, text: str) -> None:
        self.notices.append(text)


@dataclass
class FakeRegistry:
    live: dict[str, Any] | None = None
    registered: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    def live_task_definition(self, cluster: str, service: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.live)

    def register_or_reuse(
        self, task_definition: dict[str, Any], plan_hash: str, tags: dict[str, str]
    ) -> tuple[str, bool]:
        for index, (registered, tagged) in enumerate(self.registered):
            if tagged == plan_hash:
                return self._arn(registered, index), True
        self.registered.append((task_definition, plan_hash))
        return self._arn(task_definition, len(self.registered) - 1), False

    @staticmethod
    def _arn(task_definition: dict[str, Any], index: int) -> str:
        return f"arn:aws:ecs:eu-west-2:123456789012:task-definition/{task_definition.get('family')}:{index + 1}"


@dataclass
class FakeReplica:
    """A registry in another region: which digests replication has brought there."""

    digests: set[str] = field(default_factory=set)

    def has_image(self, registry_id: str | None, repository: str, digest: str) -> bool:
        return digest in self.digests


@dataclass
class RecordingCloser:
    voided: list[tuple[str, str]] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)

    def void(self, release_id: str, reason: str) -> int:
        self.voided.append((release_id, reason))
        return 1

    def expire(self, release_id: str) -> int:
        self.expired.append(release_id)
        return 1


@dataclass
class FakeReleaseDeps:
    """``ReleaseDeps`` made of the fakes above (or any mix with real adapters)."""

    config_fn: Callable[[], SlipwayConfig]
    source: ConfigSource
    clock: Clock
    state: Any = None
    audit: Any = None
    scans: Any = field(default_factory=FakeScans)
    tokens: Any = field(default_factory=FakeTokens)
    notifier: Any = field(default_factory=RecordingNotifier)
    registry: Any = field(default_factory=FakeRegistry)
    images: Any = None
    approvals: Any = field(default_factory=RecordingCloser)
    deployers: dict[str, Any] = field(
        default_factory=lambda: {"codedeploy": FakeDeployer(), "ecs": FakeDeployer(kind="ECS")}
    )
    slept: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = self.state or InMemoryState(self.clock)
        self.audit = self.audit or InMemoryAudit(self.clock)

    def config(self) -> SlipwayConfig:
        return self.config_fn()

    replicas: dict[str, Any] = field(default_factory=dict)  # region -> FakeReplica

    def deployer(self, environment: Environment, release_id: str) -> Any:
        return self.deployers[environment.deployment.type]

    def registry_for(self, environment: Environment, release_id: str) -> Any:
        return self.registry

    def images_in(self, region: str) -> Any:
        return self.replicas.setdefault(region, FakeReplica())

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


# ---------------------------------------------------------------------------------------------- approvals
@dataclass
class InMemoryApprovalStore:
    plans: dict[tuple[str, str], str] = field(default_factory=dict)
    records: dict[str, ApprovalRecord] = field(default_factory=dict)
    by_release: dict[str, dict[str, str]] = field(default_factory=dict)

    def create(self, record: ApprovalRecord) -> str | None:
        if record.approval_id in self.records:
            raise ApprovalExists(record.approval_id)
        self.records[record.approval_id] = copy.deepcopy(record)
        if record.kind != "stepfunctions" or not record.release_id:
            return None
        previous = self.by_release.setdefault(record.release_id, {}).get(record.environment)
        self.by_release[record.release_id][record.environment] = record.approval_id
        return previous

    def get(self, approval_id: str) -> ApprovalRecord | None:
        found = self.records.get(approval_id)
        return copy.deepcopy(found) if found else None

    def set_message(self, approval_id: str, channel: str, ts: str) -> None:
        self.records[approval_id].channel_id = channel
        self.records[approval_id].message_ts = ts

    def claim_post(self, approval_id: str, *, now_epoch: int, stale_after_seconds: int) -> bool:
        record = self.records.get(approval_id)
        if record is None or record.message_ts:
            return False
        if record.posting_since is not None and record.posting_since >= now_epoch - stale_after_seconds:
            return False
        record.posting_since = now_epoch
        return True

    def current_plan_hash(self, release_id: str, environment: str) -> str | None:
        return self.plans.get((release_id, environment))

    def mark_task_completed(self, approval_id: str, at: str) -> None:
        record = self.records[approval_id]
        record.task_completed_at = record.task_completed_at or at

    def mark_delivery_failed(self, approval_id: str, problem: str) -> None:
        self.records[approval_id].delivery_problem = problem

    def approval_ids_for_release(self, release_id: str) -> list[str]:
        return list(self.by_release.get(release_id, {}).values())

    def _plan_still(self, record: ApprovalRecord) -> bool:
        if record.kind != "stepfunctions" or not record.plan_hash or not record.release_id:
            return True
        return self.plans.get((record.release_id, record.environment)) == record.plan_hash

    def add_approval(self, record: ApprovalRecord, *, user: str, at: str, now_epoch: int, new_status: str) -> None:
        stored = self.records[record.approval_id]
        if (
            stored.status != ApprovalStatus.PENDING
            or stored.expiry <= now_epoch
            or user in stored.approved_by
            or len(stored.approved_by) != len(record.approved_by)
            or not self._plan_still(stored)
        ):
            raise DecisionConflict(record.approval_id)
        stored.approved_by.append(user)
        stored.decisions.append(Decision(user, at, "approve"))
        stored.status = new_status
        stored.updated_at = at

    def finish(
        self,
        record: ApprovalRecord,
        *,
        status: str,
        at: str,
        now_epoch: int | None,
        user: str | None = None,
        reason: str | None = None,
    ) -> None:
        stored = self.records[record.approval_id]
        if stored.status != ApprovalStatus.PENDING or (now_epoch is not None and stored.expiry <= now_epoch):
            raise DecisionConflict(record.approval_id)
        if user is not None and not self._plan_still(stored):
            raise DecisionConflict(record.approval_id)
        stored.status = status
        stored.updated_at = at
        if user is not None:
            stored.decisions.append(Decision(user, at, status.lower()))
        if reason is not None:
            stored.reason = reason


@dataclass
class FakeSlackApi:
    posts: list[tuple[str, str, list[dict[str, Any]] | None]] = field(default_factory=list)
    updates: list[tuple[str, str, str]] = field(default_factory=list)
    responses: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)

    def post_message_in(self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None) -> tuple[str, str]:
        self.posts.append((channel, text, blocks))
        return f"C{len(self.posts):08d}", f"1700000000.{len(self.posts):06d}"

    def update_message(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        self.updates.append((channel, ts, text))

    def respond(self, response_url: str, payload: dict[str, Any]) -> None:
        self.responses.append((response_url, payload))

    def usergroup_members(self, group_id: str) -> list[str]:
        return list(self.groups.get(group_id, []))

    def ephemeral(self) -> list[str]:
        return [str(p.get("text")) for _, p in self.responses if p.get("response_type") == "ephemeral"]


@dataclass
class FakeCodePipelineApprovals:
    results: list[tuple[CodePipelineAction, bool, str]] = field(default_factory=list)

    def put_result(self, action: CodePipelineAction, approved: bool, summary: str) -> None:
        self.results.append((action, approved, summary))


@dataclass
class InMemoryPushers:
    """``PusherStore`` in memory: (repository, digest) -> principals."""

    recorded: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def record(self, repository: str, digest: str, principal: str) -> None:
        self.recorded.setdefault((repository, digest), set()).add(principal)

    def principals(self, repository: str, digest: str) -> list[str]:
        return sorted(self.recorded.get((repository, digest), set()))


@dataclass
@dataclass
class FakeDeploymentHooks:
    """``DeploymentHooks``: deployments paused at the approval hook, by (pipeline, environment); the decisions."""

    paused_at: dict[tuple[str, str], PausedDeployment] = field(default_factory=dict)
    decided: list[tuple[DeploymentHook, bool]] = field(default_factory=list)

    ready_at: dict[str, PausedDeployment] = field(default_factory=dict)

    def paused(self, pipeline: str, environment: str) -> PausedDeployment | None:
        return self.paused_at.get((pipeline, environment))

    def ready(self, deployment_id: str) -> PausedDeployment | None:
        return self.ready_at.get(deployment_id)

    def decide(self, hook: DeploymentHook, approved: bool) -> None:
        if any(h == hook for h, _ in self.decided):
            raise TokenNoLongerValid(f"{hook.deployment_id} no longer waits at {hook.hook_id}")
        self.decided.append((hook, approved))


@dataclass
class FakeGate:
    """``ApprovalGate`` over in-memory fakes."""

    config_fn: Callable[[], SlipwayConfig]
    clock: Clock
    store: Any = field(default_factory=InMemoryApprovalStore)
    slack: Any = field(default_factory=FakeSlackApi)
    tasks: Any = field(default_factory=FakeTokens)
    codepipeline: Any = field(default_factory=FakeCodePipelineApprovals)
    hooks: Any = field(default_factory=FakeDeploymentHooks)
    audit: Any = None
    pushers: Any = None
    secret: str = "fake-signing-secret"
    pins: AppPins = field(default_factory=AppPins)
    ids: list[str] = field(default_factory=list)
    slept: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.audit = self.audit or InMemoryAudit(self.clock)
        self.pushers = self.pushers or InMemoryPushers()

    def config(self) -> SlipwayConfig:
        return self.config_fn()

    def signing_secret(self) -> str:
        return self.secret

    def app_pins(self) -> AppPins:
        return self.pins

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def new_id(self) -> str:
        return self.ids.pop(0) if self.ids else f"{next(_ids):032x}"

    def deployment_target(self, environment: Environment, plan: Plan) -> str:
        return f"fake {plan.deployment_group}"
