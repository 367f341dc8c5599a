"""The only place that builds adapters and hands them to the domain.

One ``Wiring`` per execution environment (``wiring()``), built from the validated function settings on first
use: nothing is created at import time, and every client is created when first needed (a forged Slack click
never creates a DynamoDB client). The domain sees Protocols only (``slipway.domain.*.ports``); tests build a
``Wiring`` over moto (``Wiring(settings, AwsClients(session))``) or hand the domain in-memory fakes instead.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slipway.adapters.approval_store import ApprovalStore
    from slipway.adapters.audit import AuditLog
    from slipway.adapters.aws import AwsClients
    from slipway.adapters.codepipeline import CodePipelineApprovals
    from slipway.adapters.deployment_hooks import DeploymentHooks
    from slipway.adapters.ecr import EcrImages
    from slipway.adapters.ecs import EcsRegistry
    from slipway.adapters.pushers import PusherStore
    from slipway.adapters.slack import SlackClient
    from slipway.adapters.state_store import StateStore
    from slipway.adapters.stepfunctions import TaskTokens
    from slipway.adapters.targets import TargetSessions
    from slipway.domain.approval.ports import AppPins, ApprovalGate
    from slipway.domain.config import ConfigSource
    from slipway.domain.intake.ports import IntakeDeps, JobDeps
    from slipway.domain.notify import ReleaseNotifier
    from slipway.domain.release.ports import Deployer, ReleaseDeps
    from slipway.models.config import Environment, SlipwayConfig
    from slipway.models.release import Plan
    from slipway.settings import Settings

CONFIG_TTL_SECONDS = 60.0


def utcnow() -> datetime:
    return datetime.now(UTC)


class Wiring:
    def __init__(
        self, settings: Settings, aws: AwsClients | None = None, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        from slipway.adapters.aws import AwsClients  # botocore loads on first use, not at import

        self.settings = settings
        self.aws = aws or AwsClients()
        self.clock = clock
        self._config: SlipwayConfig | None = None
        self._regional_images: dict[str, EcrImages] = {}
        self._config_loaded_at = 0.0

    # ------------------------------------------------------------------ configuration
    @cached_property
    def config_source(self) -> ConfigSource:
        location = self.settings.config_location
        if location.startswith("s3://"):
            from slipway.adapters.s3 import S3ConfigSource

            return S3ConfigSource(self.aws.s3, location)
        from slipway.domain.config import LocalConfigSource

        return LocalConfigSource(location)

    def config(self) -> SlipwayConfig:
        """The pipeline configuration, re-read at most once a minute so a `make publish-config` takes effect."""
        from slipway.domain.config import load_published_config

        now = time.monotonic()
        if self._config is None or now - self._config_loaded_at > CONFIG_TTL_SECONDS:
            self._config = load_published_config(self.config_source)
            self._config_loaded_at = now
        return self._config

    # ------------------------------------------------------------------ adapters (each created on first use)
    @cached_property
    def audit(self) -> AuditLog:
        from slipway.adapters.audit import AuditLog

        return AuditLog(self.aws.dynamodb, self.settings.audit_table, clock=self.clock)

    @cached_property
    def state(self) -> StateStore:
        from slipway.adapters.state_store import StateStore

        return StateStore(self.aws.dynamodb, self.settings.state_table, clock=self.clock)

    @cached_property
    def pushers(self) -> PusherStore:
        from slipway.adapters.pushers import PusherStore

        return PusherStore(self.aws.dynamodb, self.settings.state_table, clock=self.clock)

    @cached_property
    def approval_store(self) -> ApprovalStore:
        from slipway.adapters.approval_store import ApprovalStore

        return ApprovalStore(self.aws.dynamodb, self.settings.state_table)

    @cached_property
    def tokens(self) -> TaskTokens:
        from slipway.adapters.stepfunctions import TaskTokens

        return TaskTokens(self.aws.sfn)

    @cached_property
    def images(self) -> EcrImages:
        from slipway.adapters.ecr import EcrImages

        return EcrImages(self.aws.ecr)

    @cached_property
    def registry(self) -> EcsRegistry:
        from slipway.adapters.ecs import EcsRegistry

        return EcsRegistry(self.aws.ecs)

    @cached_property
    def codepipeline_approvals(self) -> CodePipelineApprovals:
        from slipway.adapters.codepipeline import CodePipelineApprovals

        return CodePipelineApprovals(self.aws.codepipeline)

    @property
    def slack(self) -> SlackClient:
        """Per use: the token comes from the (cached) secret, so a rotated token is picked up within minutes."""
        from slipway.adapters.slack import slack_client

        return slack_client(self.settings, self.secrets_provider)

    @cached_property
    def secrets_provider(self) -> Any:
        """Powertools' Secrets Manager provider over this wiring's client, with its own cache (on Lambda, one per
        execution environment: as if it were the module-level default)."""
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        return SecretsProvider(boto3_client=self.aws.secretsmanager)

    def signing_secret(self) -> str:
        from slipway.adapters.slack import slack_secrets

        return slack_secrets(self.settings, self.secrets_provider).signing_secret

    def app_pins(self) -> AppPins:
        from slipway.adapters.slack import slack_secrets
        from slipway.domain.approval.ports import AppPins

        secrets = slack_secrets(self.settings, self.secrets_provider)
        return AppPins(team_id=secrets.team_id, app_id=secrets.app_id)

    @property
    def notifier(self) -> ReleaseNotifier:
        from slipway.domain.notify import ReleaseNotifier

        return ReleaseNotifier(lambda: self.slack, self.audit)

    @cached_property
    def targets(self) -> TargetSessions:
        from slipway.adapters.targets import TargetSessions

        return TargetSessions(self.aws.sts, clock=self.clock)

    def clients_for(self, environment: Environment, release_id: str) -> AwsClients:
        """The clients that act on ``environment``: the control plane's own, or for an environment with a
        ``target``, clients from its deploy role's assumed-role credentials (session name: the release id)."""
        if environment.target is None:
            return self.aws
        return self.targets.clients(environment.target, release_id)

    def registry_for(self, environment: Environment, release_id: str) -> EcsRegistry:
        if environment.target is None:
            return self.registry
        from slipway.adapters.ecs import EcsRegistry

        return EcsRegistry(self.clients_for(environment, release_id).ecs)

    def images_in(self, region: str) -> EcrImages:
        """This account's registry in ``region`` (one client per region, kept like every other)."""
        from slipway.adapters.ecr import EcrImages

        if region not in self._regional_images:
            self._regional_images[region] = EcrImages(self.aws.in_region(region).ecr)
        return self._regional_images[region]

    def deployer(self, environment: Environment, release_id: str) -> Deployer:
        """The deployer ``deployment.type`` names, acting where the environment lives."""
        clients = self.clients_for(environment, release_id)
        if environment.deployment.type == "ecs":
            from slipway.adapters.ecs_deployments import EcsServiceDeployer

            return EcsServiceDeployer(clients.ecs, environment)
        from slipway.adapters.codedeploy import CodeDeployDeployer

        return CodeDeployDeployer(clients.codedeploy)

    def deployment_target(self, environment: Environment, plan: Plan) -> str:
        """Where the plan deploys, for the approval message (no AWS call: RequestApproval assumes no role)."""
        from slipway.adapters.codedeploy import CodeDeployDeployer
        from slipway.domain.release.gates import account_and_region

        if environment.deployment.type == "ecs":
            from slipway.adapters.ecs_deployments import EcsServiceDeployer

            where = EcsServiceDeployer(self.aws.ecs, environment).target(plan)
        else:
            where = CodeDeployDeployer.target(plan)
        account, region = account_and_region(plan.task_definition_arn)
        return f"{where} in account {account} / {region}"

    # ------------------------------------------------------------------ what each use case gets
    def intake(self) -> IntakeDeps:
        from slipway.adapters.stepfunctions import StepFunctionsReleases
        from slipway.domain.intake.ports import IntakeDeps

        starter = StepFunctionsReleases(self.aws.sfn, self.settings.require_state_machine())
        return IntakeDeps(config=self.config, starter=starter, audit=self.audit, pushers=self.pushers)

    def job(self) -> JobDeps:
        from slipway.adapters.codepipeline import CodePipelineJobs
        from slipway.adapters.stepfunctions import StepFunctionsReleases
        from slipway.domain.intake.ports import JobDeps

        return JobDeps(
            config=self.config,
            starter=StepFunctionsReleases(self.aws.sfn, self.settings.require_state_machine()),
            audit=self.audit,
            jobs=CodePipelineJobs(self.aws.codepipeline),
            images=self.images,
        )

    @cached_property
    def approvals(self) -> ApprovalGate:
        """The approval gate's collaborators."""
        return ApprovalWiring(self)

    @cached_property
    def release(self) -> ReleaseDeps:
        """The release flow's collaborators."""
        return ReleaseWiring(self)


class ApprovalWiring:
    """``ApprovalGate`` over the wiring's adapters."""

    def __init__(self, wiring: Wiring) -> None:
        self._w = wiring

    @property
    def store(self) -> ApprovalStore:
        return self._w.approval_store

    @property
    def slack(self) -> SlackClient:
        return self._w.slack

    @property
    def tasks(self) -> TaskTokens:
        return self._w.tokens

    @property
    def codepipeline(self) -> CodePipelineApprovals:
        return self._w.codepipeline_approvals

    @property
    def hooks(self) -> DeploymentHooks:
        from slipway.adapters.codedeploy import CodeDeployReadyWait
        from slipway.adapters.deployment_hooks import DeploymentHooks
        from slipway.adapters.ecs_deployments import EcsDeploymentHooks

        state = self._w.state
        return DeploymentHooks(
            EcsDeploymentHooks(self._w.aws.ecs, state), CodeDeployReadyWait(self._w.aws.codedeploy, state)
        )

    @property
    def audit(self) -> AuditLog:
        return self._w.audit

    @property
    def pushers(self) -> PusherStore:
        return self._w.pushers

    def config(self) -> SlipwayConfig:
        return self._w.config()

    def signing_secret(self) -> str:
        return self._w.signing_secret()

    def app_pins(self) -> AppPins:
        return self._w.app_pins()

    def clock(self) -> datetime:
        return self._w.clock()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def new_id(self) -> str:
        return secrets.token_hex(16)

    def deployment_target(self, environment: Environment, plan: Plan) -> str:
        return self._w.deployment_target(environment, plan)


class ApprovalClosing:
    """``ApprovalCloser`` for the release flow: the approval gate's own close functions."""

    def __init__(self, gate: ApprovalGate) -> None:
        self._gate = gate

    def void(self, release_id: str, reason: str) -> int:
        from slipway.domain.approval.close import void_approvals

        return void_approvals(self._gate, release_id, reason)

    def expire(self, release_id: str) -> int:
        from slipway.domain.approval.close import expire_approvals

        return expire_approvals(self._gate, release_id)


class ReleaseWiring:
    """``ReleaseDeps`` over the wiring's adapters."""

    def __init__(self, wiring: Wiring) -> None:
        self._w = wiring

    def config(self) -> SlipwayConfig:
        return self._w.config()

    @property
    def source(self) -> ConfigSource:
        return self._w.config_source

    @property
    def state(self) -> StateStore:
        return self._w.state

    @property
    def audit(self) -> AuditLog:
        return self._w.audit

    @property
    def scans(self) -> EcrImages:
        return self._w.images

    @property
    def tokens(self) -> TaskTokens:
        return self._w.tokens

    @property
    def notifier(self) -> ReleaseNotifier:
        return self._w.notifier

    def registry_for(self, environment: Environment, release_id: str) -> EcsRegistry:
        return self._w.registry_for(environment, release_id)

    @property
    def images(self) -> EcrImages:
        return self._w.images

    def images_in(self, region: str) -> EcrImages:
        return self._w.images_in(region)

    @cached_property
    def approvals(self) -> ApprovalClosing:
        return ApprovalClosing(self._w.approvals)

    def deployer(self, environment: Environment, release_id: str) -> Deployer:
        return self._w.deployer(environment, release_id)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


_wiring: Wiring | None = None
_scoped: ContextVar[Wiring | None] = ContextVar("slipway_wiring", default=None)


def wiring() -> Wiring:
    """This execution environment's wiring, built on first use (cold start) from the function's settings."""
    from slipway.settings import get_settings

    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    global _wiring  # noqa: PLW0603 - one per execution environment, by design
    if _wiring is None:
        _wiring = Wiring(get_settings())
    return _wiring


@contextlib.contextmanager
def scoped_wiring(scoped: Wiring) -> Iterator[Wiring]:
    """``wiring()`` answers ``scoped`` in this block (this thread): the embedded local cloud runs every function
    in one process and gives each its own wiring, caches included, as Lambda gives each its own environment."""
    token = _scoped.set(scoped)
    try:
        yield scoped
    finally:
        _scoped.reset(token)


def reset_wiring(new: Wiring | None = None) -> None:
    """Tests and the local cloud swap in a wiring bound to moto (or drop it: the next call builds a fresh one)."""
    from slipway.settings import get_settings

    global _wiring  # noqa: PLW0603
    _wiring = new
    get_settings.cache_clear()
