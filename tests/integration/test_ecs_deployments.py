"""The ECS-native adapters against botocore's ECS model (a Stubber: moto has no service deployments): the
UpdateService a plan becomes, how DescribeServiceDeployments reads, a retried Deploy finding its deployment, and the
hook of an approval after test traffic; and CodeDeploy's ready wait (moto has no ContinueDeployment)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from slipway.adapters.codedeploy import CodeDeployReadyWait
from slipway.adapters.ecs_deployments import EcsDeploymentHooks, EcsServiceDeployer
from slipway.errors import SlipwayError, TokenNoLongerValid
from slipway.models.config import Environment
from slipway.models.records import DeploymentHook
from slipway.models.release import Plan

ARN = "arn:aws:ecs:eu-west-2:123456789012:service-deployment/production-api-cluster/production-api-service/abc"
TASKDEF = "arn:aws:ecs:eu-west-2:123456789012:task-definition/api:7"


@pytest.fixture
def ecs() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("ecs", region_name="eu-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def env(**deployment: Any) -> Environment:
    return Environment.model_validate(
        {
            "name": "production",
            "cluster": "production-api-cluster",
            "service": "production-api-service",
            "deployment": {"type": "ecs", **deployment},
            "task_definition": {"source": "live"},
            "containers": ["web"],
        }
    )


def plan(**update: Any) -> Plan:
    return Plan(
        release_id="api-1",
        pipeline="api",
        environment="production",
        digest="sha256:" + "a" * 64,
        plan_hash="1" * 64,
        task_definition_arn=TASKDEF,
        approval_required=False,
        approval_timeout_seconds=90 * 60,
        deployment_wait_seconds=3600,
        **update,
    )


def test_start_is_one_update_service_with_the_strategy_and_the_approval_hook(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    expected = {
        "cluster": "production-api-cluster",
        "service": "production-api-service",
        "taskDefinition": TASKDEF,
        "deploymentConfiguration": {
            "strategy": "BLUE_GREEN",
            "bakeTimeInMinutes": 10,
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "lifecycleHooks": [
                {
                    "targetType": "PAUSE",
                    "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
                    "timeoutConfiguration": {"timeoutInMinutes": 90, "action": "ROLLBACK"},
                }
            ],
        },
    }
    stubber.add_response("update_service", {"service": {"currentServiceDeployment": ARN}}, expected)
    deployer = EcsServiceDeployer(client, env(strategy="BLUE_GREEN", bake_time_minutes=10, circuit_breaker=True))
    assert deployer.start(plan(approval_after_test_traffic=True), description="slipway api-1 -> production") == ARN
    assert deployer.target(plan()) == "ECS `production-api-cluster` / `production-api-service` (BLUE_GREEN)"


def test_a_service_on_another_controller_names_no_deployment(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    stubber.add_response("update_service", {"service": {"serviceName": "production-api-service"}})
    with pytest.raises(SlipwayError, match="is the service's deploymentController ECS"):
        EcsServiceDeployer(client, env()).start(plan(), description="d")


@pytest.mark.parametrize(
    ("answer", "running", "succeeded", "shown"),
    [
        ({"status": "IN_PROGRESS"}, True, False, None),
        ({"status": "SUCCESSFUL"}, False, True, None),
        (
            {
                "status": "ROLLBACK_SUCCESSFUL",
                "statusReason": "tasks failed to start",
                "deploymentCircuitBreaker": {"status": "TRIGGERED", "failureCount": 3},
                "rollback": {"reason": "circuit breaker", "serviceRevisionArn": "arn:rev/1"},
            },
            False,
            False,
            "tasks failed to start (circuit breaker: 3 failed tasks)",
        ),
    ],
)
def test_describe_reads_the_service_deployment(
    ecs: tuple[Any, Stubber], answer: dict[str, Any], running: bool, succeeded: bool, shown: str | None
) -> None:
    client, stubber = ecs
    stubber.add_response(
        "describe_service_deployments",
        {"serviceDeployments": [{"serviceDeploymentArn": ARN, **answer}]},
        {"serviceDeploymentArns": [ARN]},
    )
    info = EcsServiceDeployer(client, env()).describe(ARN)
    assert (info.running, info.succeeded, info.kind, info.error_message) == (running, succeeded, "ECS", shown)
    if "rollback" in answer:
        assert info.rollback_id == "arn:rev/1" and info.rollback_message == "ROLLBACK_SUCCESSFUL: circuit breaker"


def test_find_takes_the_current_deployment_only_when_the_service_runs_the_plan(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    running = {"services": [{"taskDefinition": TASKDEF, "currentServiceDeployment": ARN}]}
    older = {"services": [{"taskDefinition": TASKDEF.replace(":7", ":6"), "currentServiceDeployment": "arn:old"}]}
    stubber.add_response("describe_services", running)
    stubber.add_response("describe_services", older)
    deployer = EcsServiceDeployer(client, env())
    assert deployer.find(plan(), description="d") == ARN
    assert deployer.find(plan(), description="d") is None


class _State:
    """Just what EcsDeploymentHooks reads of the StateStore."""

    def __init__(self, token: Any) -> None:
        self.token = token

    def lock(self, pipeline: str, environment: str) -> Any:
        return type("Lock", (), {"holder": "api-1"})()

    def plan(self, release_id: str, environment: str) -> Any:
        return type("PlanRecord", (), {"deployment_id": ARN})()

    def deployment_token(self, deployment_id: str) -> Any:
        return self.token


def test_the_hook_a_paused_deployment_waits_at_and_the_decision(ecs: tuple[Any, Stubber]) -> None:
    client, stubber = ecs
    token = type("Token", (), {"deployment_id": ARN, "completed_status": None})()
    paused = {
        "serviceDeploymentArn": ARN,
        "status": "IN_PROGRESS",
        "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
        "lifecycleHookDetails": [{"hookId": "h-1", "targetType": "PAUSE", "status": "AWAITING_ACTION"}],
    }
    stubber.add_response("describe_service_deployments", {"serviceDeployments": [paused]})
    stubber.add_response(
        "continue_service_deployment",
        {"serviceDeploymentArn": ARN},
        {"serviceDeploymentArn": ARN, "hookId": "h-1", "action": "ROLLBACK"},
    )
    stubber.add_client_error("continue_service_deployment", "InvalidParameterException", "not waiting")
    hooks = EcsDeploymentHooks(client, _State(token))  # type: ignore[arg-type]
    found = hooks.paused("api", "production")
    assert found is not None and found.hook == DeploymentHook(ARN, "h-1")
    hooks.decide(found.hook, approved=False)
    with pytest.raises(TokenNoLongerValid):
        hooks.decide(found.hook, approved=True)


def test_codedeploy_s_ready_wait_is_continued_or_stopped() -> None:
    client = boto3.client("codedeploy", region_name="eu-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    token = type("Token", (), {"deployment_id": "d-1", "completed_status": None})()
    waits = CodeDeployReadyWait(client, _State(token))  # type: ignore[arg-type]
    with Stubber(client) as stubber:
        stubber.add_response("continue_deployment", {}, {"deploymentId": "d-1", "deploymentWaitType": "READY_WAIT"})
        stubber.add_response(
            "stop_deployment", {"status": "Pending"}, {"deploymentId": "d-1", "autoRollbackEnabled": True}
        )
        stubber.add_client_error("continue_deployment", "DeploymentIsNotInReadyStateException", "not ready")
        held = waits.ready("d-1")
        assert held is not None and held.hook == DeploymentHook("d-1", "READY_WAIT", kind="codedeploy")
        waits.decide(held.hook, approved=True)
        waits.decide(held.hook, approved=False)
        with pytest.raises(TokenNoLongerValid):
            waits.decide(held.hook, approved=True)
        stubber.assert_no_pending_responses()
