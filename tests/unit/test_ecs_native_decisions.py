"""ECS-native deployments on the fakes: what the config allows, which deployment an ECS event is about, the
approval after test traffic (asked once per hook, the decision answers the hook, the guarantees of the gate hold),
and how a rolled-back deployment ends its release."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from slipway.adapters.ecs_deployments import approval_hook, deployment_configuration
from slipway.domain.approval.decide import Click, decide
from slipway.domain.approval.request import request_ready_approval, request_test_traffic_approval
from slipway.domain.config import LocalConfigSource, load_config
from slipway.domain.release.events import on_ecs_deployment_event
from slipway.domain.release.prepare import prepare_environment
from slipway.domain.release.wait import failure_error
from slipway.models.config import EcsMethod, Environment, SlipwayConfig
from slipway.models.events import CodeDeployStateChangeEvent, EcsDeploymentStateChangeEvent, EcsHookStateChangeEvent
from slipway.models.payloads import PrepareEnvironmentInput
from slipway.models.records import AuditKind, DeploymentHook, DeploymentInfo, PausedDeployment
from slipway.models.release import Release
from tests.support.clock import Clock
from tests.support.fakes import FakeDeployer, FakeGate, FakeReleaseDeps
from tests.support.paths import CONFIG, load_event
from tests.support.releases import a_release, deploy_on_fakes

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
APPROVER, STRANGER = "U0APPROVER1", "U0STRANGER"


@pytest.fixture
def config() -> SlipwayConfig:
    return load_config(LocalConfigSource(CONFIG))


def release(n: int = 1) -> Release:
    return a_release(n, salt="ecs", pushed_at=T0, pipeline="api", repository="api-images", pushed_by="U0PUSHER")


def deps_for(config: SlipwayConfig) -> FakeReleaseDeps:
    return FakeReleaseDeps(config_fn=lambda: config, source=LocalConfigSource(CONFIG), clock=Clock(T0))


def ecs(deps: FakeReleaseDeps) -> FakeDeployer:
    found: FakeDeployer = deps.deployers["ecs"]
    return found


def deploy(deps: FakeReleaseDeps, rel: Release, environment: str) -> str:
    return deploy_on_fakes(deps, rel, environment)


def ecs_event(service: str, name: str = "SERVICE_DEPLOYMENT_COMPLETED") -> EcsDeploymentStateChangeEvent:
    raw = load_event("ecs-deployment-failed.json")
    raw["resources"] = [
        f"arn:aws:ecs:eu-west-2:123456789012:service/{service.split('-', maxsplit=1)[0]}-api-cluster/{service}"
    ]
    raw["detail"]["eventName"] = name
    return EcsDeploymentStateChangeEvent.model_validate(raw)


def environment(**deployment: Any) -> dict[str, Any]:
    return {
        "name": "staging",
        "cluster": "c",
        "service": "s",
        "deployment": {"type": "ecs", **deployment},
        "task_definition": {"source": "live"},
        "containers": ["web"],
    }


# ---------------------------------------------------------------------------------------------- config
def test_the_config_says_what_an_ecs_deployment_may_be() -> None:
    env = Environment.model_validate(environment(strategy="CANARY", canary_percent=10, canary_bake_minutes=5))
    assert isinstance(env.deployment, EcsMethod)
    assert deployment_configuration(env.deployment) == {
        "strategy": "CANARY",
        "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 5},
    }
    rolling = Environment.model_validate(environment(circuit_breaker=True))
    assert deployment_configuration(rolling.deployment) == {  # type: ignore[arg-type]
        "deploymentCircuitBreaker": {"enable": True, "rollback": True}
    }
    with pytest.raises(ValidationError, match="linear_step_percent only apply to strategy LINEAR"):
        Environment.model_validate(environment(strategy="BLUE_GREEN", linear_step_percent=10))
    with pytest.raises(ValidationError, match="bake_time_minutes does not apply to ROLLING"):
        Environment.model_validate(environment(strategy="ROLLING", bake_time_minutes=5))
    with pytest.raises(ValidationError, match="remove appspec"):
        Environment.model_validate({**environment(), "appspec": {"container_name": "web", "container_port": 80}})


@pytest.mark.parametrize(
    ("deployment", "problem"),
    [
        ({"strategy": "ROLLING"}, "rolling has no test traffic"),
        ({}, "deployment.strategy is unset"),
        ({"strategy": "BLUE_GREEN", "required": False}, "needs approval.required: true"),
    ],
)
def test_approval_after_test_traffic_needs_test_traffic(deployment: dict[str, Any], problem: str) -> None:
    required = deployment.pop("required", True)
    raw = environment(**deployment)
    raw["approval"] = {"required": required, "stage": "after_test_traffic", "approvers": {"users": [APPROVER]}}
    with pytest.raises(ValidationError, match=problem):
        Environment.model_validate(raw)
    codedeploy = {**raw, "appspec": {"container_name": "web", "container_port": 80}}
    codedeploy["deployment"] = {"type": "codedeploy", "application": "a", "deployment_group": "g"}
    codedeploy["approval"] = {**raw["approval"], "required": True}
    assert Environment.model_validate(codedeploy).approval.stage == "after_test_traffic"  # the group's ready wait


def test_approval_after_test_traffic_is_refused_for_an_environment_in_another_account() -> None:
    # The hooks answer with the control plane's own clients: an environment with a target cannot use them yet.
    raw = environment(strategy="BLUE_GREEN")
    raw["approval"] = {"required": True, "stage": "after_test_traffic", "approvers": {"users": [APPROVER]}}
    raw["target"] = {
        "account_id": "210987654321",
        "region": "eu-central-1",
        "role_arn": "arn:aws:iam::210987654321:role/slipway-deploy",
    }
    with pytest.raises(ValidationError, match="not available for an environment with a target"):
        Environment.model_validate(raw)
    assert Environment.model_validate({**raw, "approval": {**raw["approval"], "stage": "before_deploy"}}).target


def test_the_plan_of_an_approval_after_test_traffic_skips_request_approval_and_waits_longer(
    config: SlipwayConfig,
) -> None:
    deps = deps_for(config)
    rel = release()
    deps.audit.release_started(rel, ["staging", "production"])
    ecs(deps).finish(deploy(deps, rel, "staging"), succeeded=True)
    on_ecs_deployment_event(deps, ecs_event("staging-api-service"))
    plan = prepare_environment(deps, PrepareEnvironmentInput(release=rel, environment="production"))
    assert (plan.approval_required, plan.approval_after_test_traffic) == (False, True)
    assert plan.test_url == "https://test.api.example.com"
    assert plan.deployment_wait_seconds == 60 * 60 + 60 * 60  # the deployment's wait and the approval's
    assert approval_hook(plan.approval_timeout_seconds) == {
        "targetType": "PAUSE",
        "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
        "timeoutConfiguration": {"timeoutInMinutes": 60, "action": "ROLLBACK"},
    }


# ---------------------------------------------------------------------------------------------- events
def test_an_ecs_event_completes_the_lock_holders_deployment_of_that_service(config: SlipwayConfig) -> None:
    deps = deps_for(config)
    rel = release()
    deps.audit.release_started(rel, ["staging", "production"])
    deployment_id = deploy(deps, rel, "staging")

    # Another service's event, a non-final event, and this service's while ECS still deploys: nothing happens.
    assert on_ecs_deployment_event(deps, ecs_event("production-api-service"))["reason"] == "not a slipway deployment"
    assert on_ecs_deployment_event(deps, ecs_event("staging-api-service", "SERVICE_DEPLOYMENT_IN_PROGRESS"))["ignored"]
    assert on_ecs_deployment_event(deps, ecs_event("staging-api-service"))["reason"] == "still InProgress"
    assert deps.tokens.succeeded == []

    ecs(deps).finish(deployment_id, succeeded=True)
    result = on_ecs_deployment_event(deps, ecs_event("staging-api-service"))
    assert (result["status"], result["deployment_id"]) == ("SUCCEEDED", deployment_id)
    assert [token for token, _ in deps.tokens.succeeded] == ["token-staging"]
    assert deps.state.lock("api", "staging") is None
    # A redelivery changes nothing: the lock is gone, so no deployment of this service is slipway's any more.
    assert on_ecs_deployment_event(deps, ecs_event("staging-api-service"))["ignored"]


def test_a_rolled_back_deployment_fails_its_task_with_ecs_s_reason(config: SlipwayConfig) -> None:
    deps = deps_for(config)
    rel = release()
    deps.audit.release_started(rel, ["staging", "production"])
    deployment_id = deploy(deps, rel, "staging")
    ecs(deps).infos[deployment_id] = DeploymentInfo(
        deployment_id,
        "ROLLBACK_SUCCESSFUL",
        running=False,
        succeeded=False,
        kind="ECS",
        error_code="ROLLBACK_SUCCESSFUL",
        error_message="tasks failed to start (circuit breaker: 3 failed tasks)",
        rollback_id="arn:aws:ecs:eu-west-2:123456789012:service-revision/staging-api-cluster/staging-api-service/1",
        rollback_message="ROLLBACK_SUCCESSFUL: circuit breaker",
    )
    result = on_ecs_deployment_event(deps, ecs_event("staging-api-service", "SERVICE_DEPLOYMENT_FAILED"))
    assert result["status"] == "FAILED"
    [(token, error, cause)] = deps.tokens.failed
    assert (token, error) == ("token-staging", "DeploymentFailed")
    assert "ROLLBACK_SUCCESSFUL" in cause and "circuit breaker" in cause and "service-revision" in cause


@pytest.mark.parametrize(
    ("decision", "minutes", "error"),
    [
        ("reject", 5, "Rejected"),
        (None, 61, "Expired"),
        (None, 5, "DeploymentFailed"),
        ("approve", 61, "DeploymentFailed"),
    ],
)
def test_after_test_traffic_the_approval_decides_how_a_rolled_back_release_ends(
    config: SlipwayConfig, decision: str | None, minutes: int, error: str
) -> None:
    deps = deps_for(config)
    rel = release()
    deps.audit.release_started(rel, ["staging", "production"])
    deps.audit.event(
        rel.release_id, AuditKind.APPROVAL_REQUESTED, "production", expires=(T0 + timedelta(hours=1)).isoformat()
    )
    if decision:
        deps.audit.event(rel.release_id, AuditKind.APPROVAL_DECISION, "production", decision=decision, user=APPROVER)
    deps.clock.now = T0 + timedelta(minutes=minutes)
    plan = prepare_environment(deps, PrepareEnvironmentInput(release=rel, environment="staging"))
    after = plan.model_copy(update={"approval_after_test_traffic": True, "environment": "production"})
    deps.state.put_deployment_token(
        "arn:sd", task_token="t", release=rel, environment="production", environments=["staging", "production"],
        plan=after,
    )  # fmt: skip
    stored = deps.state.deployment_token("arn:sd")
    assert stored is not None
    assert failure_error(deps, stored) == error


# ---------------------------------------------------------------------------------------------- the approval
def paused_gate(config: SlipwayConfig) -> tuple[FakeGate, PausedDeployment]:
    deps = deps_for(config)
    rel = release()
    deps.audit.release_started(rel, ["staging", "production"])
    plan = prepare_environment(deps, PrepareEnvironmentInput(release=rel, environment="staging"))
    plan = plan.model_copy(
        update={"environment": "production", "approval_after_test_traffic": True, "test_url": "https://t.example"}
    )
    deps.state.put_deployment_token(
        "arn:sd/production", task_token="t", release=rel, environment="production",
        environments=["staging", "production"], plan=plan,
    )  # fmt: skip
    token = deps.state.deployment_token("arn:sd/production")
    assert token is not None
    gate = FakeGate(config_fn=lambda: config, clock=Clock(T0), audit=deps.audit)
    gate.store.plans[(rel.release_id, "production")] = plan.plan_hash
    paused = PausedDeployment(token, DeploymentHook("arn:sd/production", "hook-1"))
    gate.hooks.paused_at[("api", "production")] = paused
    return gate, paused


def hook_event(service: str = "production-api-service") -> EcsHookStateChangeEvent:
    raw = load_event("ecs-hook-awaiting-action.json")
    raw["resources"] = [f"arn:aws:ecs:eu-west-2:123456789012:service/production-api-cluster/{service}"]
    return EcsHookStateChangeEvent.model_validate(raw)


def test_the_hook_asks_the_approval_once_and_the_decision_answers_the_hook(config: SlipwayConfig) -> None:
    gate, paused = paused_gate(config)
    asked = request_test_traffic_approval(gate, hook_event())
    again = request_test_traffic_approval(gate, hook_event())  # EventBridge delivers it twice
    assert again == {"ignored": True, "approval_id": asked["approval_id"], "reason": "already requested for this hook"}
    record = gate.store.get(asked["approval_id"])
    assert record is not None and record.deployment_hook == paused.hook and record.task_token is None
    [(_, _, blocks)] = gate.slack.posts
    assert "test traffic" in str(blocks) and "https://t.example" in str(blocks)
    assert request_test_traffic_approval(gate, hook_event("other-service"))["ignored"]

    # The gate's guarantees hold at the new moment: a stranger is refused, the approver's click is one-shot.
    assert decide(gate, Click(record.approval_id, "slipway_approve", STRANGER, "https://r")) == "refused:not_allowed"
    assert gate.hooks.decided == []
    assert decide(gate, Click(record.approval_id, "slipway_approve", APPROVER, "https://r")) == "approved"
    assert decide(gate, Click(record.approval_id, "slipway_reject", APPROVER, "https://r")).startswith("refused")
    assert gate.hooks.decided == [(paused.hook, True)]
    assert gate.tasks.succeeded == [] and gate.tasks.failed == []


def test_a_rejection_rolls_the_paused_deployment_back(config: SlipwayConfig) -> None:
    gate, paused = paused_gate(config)
    record_id = request_test_traffic_approval(gate, hook_event())["approval_id"]
    assert decide(gate, Click(record_id, "slipway_reject", APPROVER, "https://r")) == "rejected"
    assert gate.hooks.decided == [(paused.hook, False)]


def test_a_click_after_the_approval_expired_does_not_answer_the_hook(config: SlipwayConfig) -> None:
    gate, _ = paused_gate(config)
    record_id = request_test_traffic_approval(gate, hook_event())["approval_id"]
    gate.clock.now = T0 + timedelta(hours=2)
    assert decide(gate, Click(record_id, "slipway_approve", APPROVER, "https://r")).startswith("refused")
    assert gate.hooks.decided == []


def test_a_plan_changed_after_the_hook_refuses_the_approval(config: SlipwayConfig) -> None:
    gate, paused = paused_gate(config)
    record_id = request_test_traffic_approval(gate, hook_event())["approval_id"]
    gate.store.plans[(paused.token.release.release_id, "production")] = "f" * 64
    assert decide(gate, Click(record_id, "slipway_approve", APPROVER, "https://r")) == "refused:plan_changed"
    assert gate.hooks.decided == []


def test_codedeploy_s_ready_event_asks_the_approval_of_an_environment_approved_after_test_traffic(
    config: SlipwayConfig,
) -> None:
    gate, paused = paused_gate(config)
    held = PausedDeployment(paused.token, DeploymentHook("d-READY1", "READY_WAIT", kind="codedeploy"))
    gate.hooks.ready_at["d-READY1"] = held
    raw = load_event("codedeploy-deployment-success.json")
    raw["detail"].update(deploymentId="d-READY1", state="READY")
    ready = CodeDeployStateChangeEvent.model_validate(raw)

    asked = request_ready_approval(gate, ready)
    assert request_ready_approval(gate, ready)["reason"] == "already requested for this hook"
    assert decide(gate, Click(asked["approval_id"], "slipway_approve", APPROVER, "https://r")) == "approved"
    assert gate.hooks.decided == [(held.hook, True)]
    raw["detail"].update(deploymentId="d-OTHER")
    assert request_ready_approval(gate, CodeDeployStateChangeEvent.model_validate(raw))["ignored"]
    raw["detail"].update(deploymentId="d-READY1", state="SUCCESS")
    assert request_ready_approval(gate, CodeDeployStateChangeEvent.model_validate(raw))["reason"] == "state SUCCESS"
