"""The release flow over the moto world: the real adapters, a config a test may change in memory, and the
steps (prepare, start, the deployment event, check, finalize) as the state machine would run them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from slipway.adapters.audit import AuditLog
from slipway.adapters.codedeploy import CodeDeployDeployer
from slipway.adapters.slack import SlackClient
from slipway.adapters.state_store import StateStore
from slipway.domain.notify import ReleaseNotifier
from slipway.domain.release.deploy import start_deployment
from slipway.domain.release.events import on_deployment_event
from slipway.domain.release.finalize import finalize_release
from slipway.domain.release.prepare import prepare_environment
from slipway.domain.release.wait import check_deployment
from slipway.models.config import SlipwayConfig
from slipway.models.events import CodeDeployStateChangeEvent
from slipway.models.payloads import (
    CheckDeploymentInput,
    FinalizeReleaseInput,
    PrepareEnvironmentInput,
    StartDeploymentInput,
    TaskError,
)
from slipway.models.release import Plan, Release
from slipway.wiring import utcnow
from slipway_dev.iam.recorder import acting_as
from tests.support.fakes import FakeReleaseDeps, RecordingCloser
from tests.support.paths import load_event
from tests.support.releases import a_release
from tests.support.world import AUDIT_TABLE, BOT_TOKEN, STATE_TABLE, MotoWorld

APP = "codedeploy-app"
GROUPS = {"staging": "codedeploy-deployment-group-staging", "production": "codedeploy-deployment-group-production"}
T0 = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)


def make_release(n: int, *, minutes: int = 0) -> Release:
    return a_release(n, salt="image", pushed_at=T0 + timedelta(minutes=minutes), commit=f"{n:040x}")


@dataclass
class Env:
    world: MotoWorld
    config: SlipwayConfig
    closer: RecordingCloser = field(default_factory=RecordingCloser)

    @property
    def slack(self) -> Any:
        return self.world.slack

    @property
    def voided(self) -> list[tuple[str, str]]:
        return self.closer.voided

    def client(self, service: str) -> Any:
        return self.world.client(service)

    def with_pipeline(self, **update: Any) -> None:
        pipeline = self.config.pipelines["web-app"].model_copy(update=update)
        self.config = self.config.model_copy(update={"pipelines": {"web-app": pipeline}})

    def with_environment(self, name: str, **update: Any) -> None:
        pipeline = self.config.pipelines["web-app"]
        envs = [e.model_copy(update=update) if e.name == name else e for e in pipeline.environments]
        self.with_pipeline(environments=envs)

    def deps(self, *, codedeploy: Any = None, sfn: Any = None, ecr: Any = None) -> FakeReleaseDeps:
        """The real adapters over moto (Stubber-wrapped clients where given), this test's config, a recording
        approval closer, and no image lookup."""
        clients = {k: v for k, v in {"codedeploy": codedeploy, "sfn": sfn, "ecr": ecr}.items() if v is not None}
        wiring = self.world.wiring(clock=utcnow, **clients)
        return FakeReleaseDeps(
            config_fn=lambda: self.config,
            source=wiring.config_source,
            clock=self.world.clock,
            state=wiring.state,
            audit=wiring.audit,
            scans=wiring.images,
            tokens=wiring.tokens,
            notifier=ReleaseNotifier(
                SlackClient(BOT_TOKEN, self.world.slack.base_url), wiring.audit, tries=1, sleep=lambda _s: None
            ),
            registry=wiring.registry,
            approvals=self.closer,
            deployers={"codedeploy": CodeDeployDeployer(wiring.aws.codedeploy)},
        )

    def audit(self) -> AuditLog:
        return AuditLog(self.client("dynamodb"), AUDIT_TABLE)


@pytest.fixture
def env(moto_world: MotoWorld) -> Env:
    moto_world.deploy_targets()
    return Env(moto_world, moto_world.config)


# Each step acts as the function that runs it on AWS: the IAM check judges its calls by that function's role.
def prepare(env: Env, release: Release, environment: str, **clients: Any) -> Plan:
    with acting_as("PrepareEnvironmentFunction"):
        task = PrepareEnvironmentInput(release=release, environment=environment)
        return prepare_environment(env.deps(**clients), task)


def handle_event(env: Env, event: dict[str, Any], **clients: Any) -> dict[str, Any]:
    with acting_as("DeploymentEventsFunction"):
        return on_deployment_event(env.deps(**clients), CodeDeployStateChangeEvent.model_validate(event))


def check(env: Env, release: Release, environment: str, **clients: Any) -> dict[str, Any]:
    with acting_as("DeploymentEventsFunction"):
        task = CheckDeploymentInput(release=release, environment=environment)
        return check_deployment(env.deps(**clients), task)


def finalize(env: Env, release: Release, error: dict[str, Any]) -> dict[str, str]:
    with acting_as("FinalizeReleaseFunction"):
        task = FinalizeReleaseInput(release=release, error=TaskError.model_validate(error))
        return finalize_release(env.deps(), task)


def lock_holder(env: Env, environment: str) -> str | None:
    lock = StateStore(env.client("dynamodb"), STATE_TABLE).lock("web-app", environment)
    return lock.holder if lock else None


def start(env: Env, release: Release, environment: str, plan: Plan, token: str = "token-1") -> str:
    task = StartDeploymentInput(
        task_token=token, release=release, environment=environment, plan=plan, environments=["staging", "production"]
    )
    with acting_as("StartDeploymentFunction"):
        return str(start_deployment(env.deps(), task)["deployment_id"])


def deployment_event(deployment_id: str, state: str = "SUCCESS") -> dict[str, Any]:
    event = load_event("codedeploy-deployment-success.json")
    event["detail"]["deploymentId"] = deployment_id
    event["detail"]["state"] = state
    return event


def succeed_environment(env: Env, release: Release, environment: str) -> str:
    """prepare -> start -> SUCCESS event, with the token completion checked by a Stubber."""
    plan = prepare(env, release, environment)
    deployment_id = start(env, release, environment, plan, token=f"token-{environment}")
    sfn = env.client("stepfunctions")
    with Stubber(sfn) as stub:
        stub.add_response(
            "send_task_success",
            {},
            {
                "taskToken": f"token-{environment}",
                "output": json.dumps({"deployment_id": deployment_id, "status": "SUCCEEDED"}),
            },
        )
        handle_event(env, deployment_event(deployment_id), sfn=sfn)
        stub.assert_no_pending_responses()
    return deployment_id
