"""ECS-native deployments (deploymentController ECS): the second implementation of the release flow's ``Deployer``
(``slipway.domain.release.ports``).

``UpdateService`` with the plan's revision (and the environment's strategy settings, when configured) starts a
service deployment; its ARN (``currentServiceDeployment``) is the deployment id. ECS's ``ECS Deployment State
Change`` event (or one DescribeServiceDeployments after the wait timed out) says how it ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from slipway.adapters.aws import transient_errors
from slipway.adapters.state_store import StateStore
from slipway.errors import SlipwayError, TokenNoLongerValid
from slipway.models.config import EcsMethod, Environment
from slipway.models.records import DeploymentHook, DeploymentInfo, PausedDeployment
from slipway.models.release import Plan

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

# ServiceDeployment.status values that mean "not finished yet" (a rollback still running is not finished either).
RUNNING_STATUSES = frozenset({"PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"})
APPROVAL_STAGE = "POST_TEST_TRAFFIC_SHIFT"


def deployment_configuration(method: EcsMethod) -> dict[str, Any]:
    """The ``deploymentConfiguration`` members the environment sets; empty: the service keeps its own."""
    config: dict[str, Any] = {}
    if method.strategy:
        config["strategy"] = method.strategy
    if method.bake_time_minutes is not None:
        config["bakeTimeInMinutes"] = method.bake_time_minutes
    if method.strategy == "LINEAR" and (method.linear_step_percent or method.linear_step_bake_minutes is not None):
        linear: dict[str, Any] = {}
        if method.linear_step_percent:
            linear["stepPercent"] = method.linear_step_percent
        if method.linear_step_bake_minutes is not None:
            linear["stepBakeTimeInMinutes"] = method.linear_step_bake_minutes
        config["linearConfiguration"] = linear
    if method.strategy == "CANARY" and (method.canary_percent or method.canary_bake_minutes is not None):
        canary: dict[str, Any] = {}
        if method.canary_percent:
            canary["canaryPercent"] = method.canary_percent
        if method.canary_bake_minutes is not None:
            canary["canaryBakeTimeInMinutes"] = method.canary_bake_minutes
        config["canaryConfiguration"] = canary
    if method.circuit_breaker is not None:
        config["deploymentCircuitBreaker"] = {"enable": method.circuit_breaker, "rollback": method.circuit_breaker}
    return config


def approval_hook(timeout_seconds: int) -> dict[str, Any]:
    """The PAUSE hook of an approval after test traffic: the deployment waits at POST_TEST_TRAFFIC_SHIFT (the new
    revision serves test traffic, production has not moved) and rolls back on its own when nobody decides in time,
    as the approval itself expires."""
    return {
        "targetType": "PAUSE",
        "lifecycleStages": [APPROVAL_STAGE],
        "timeoutConfiguration": {"timeoutInMinutes": max(1, -(-timeout_seconds // 60)), "action": "ROLLBACK"},
    }


class EcsServiceDeployer:
    kind = "ECS"

    def __init__(self, client: ECSClient, environment: Environment) -> None:
        assert isinstance(environment.deployment, EcsMethod)
        self._client = client
        self._cluster = environment.cluster
        self._service = environment.service
        self._method = environment.deployment

    def start(self, plan: Plan, *, description: str) -> str:
        """UpdateService; the service's ``currentServiceDeployment`` is the deployment it started. (ECS has no
        description on a deployment: ``find`` recognises one by the revision it deploys.)"""
        kwargs: dict[str, Any] = {
            "cluster": self._cluster,
            "service": self._service,
            "taskDefinition": plan.task_definition_arn,
        }
        config = deployment_configuration(self._method)
        if plan.approval_after_test_traffic:
            config["lifecycleHooks"] = [approval_hook(plan.approval_timeout_seconds)]
        if config:
            kwargs["deploymentConfiguration"] = config
        with transient_errors(f"UpdateService {self._cluster}/{self._service}"):
            service = self._client.update_service(**kwargs)["service"]
        arn = service.get("currentServiceDeployment")
        if not arn:
            raise SlipwayError(
                f"UpdateService {self._cluster}/{self._service} named no service deployment: is the service's "
                "deploymentController ECS? (deployment.type ecs needs it)"
            )
        return str(arn)

    def describe(self, deployment_id: str) -> DeploymentInfo:
        with transient_errors(f"DescribeServiceDeployments {deployment_id}"):
            response = self._client.describe_service_deployments(serviceDeploymentArns=[deployment_id])
        deployments = response.get("serviceDeployments", [])
        if not deployments:
            reasons = "; ".join(str(f.get("reason")) for f in response.get("failures", [])) or "not found"
            return DeploymentInfo(
                deployment_id=deployment_id,
                status="MISSING",
                running=False,
                succeeded=False,
                kind=self.kind,
                error_message=f"DescribeServiceDeployments: {reasons}",
            )
        deployment = deployments[0]
        status = str(deployment.get("status", "UNKNOWN"))
        rollback = deployment.get("rollback") or {}
        breaker = deployment.get("deploymentCircuitBreaker") or {}
        message = deployment.get("statusReason")
        if breaker.get("status") == "TRIGGERED":
            message = f"{message or 'failed'} (circuit breaker: {breaker.get('failureCount', '?')} failed tasks)"
        return DeploymentInfo(
            deployment_id=deployment_id,
            status=status,
            running=status in RUNNING_STATUSES,
            succeeded=status == "SUCCESSFUL",
            kind=self.kind,
            error_code=status if status != "SUCCESSFUL" else None,
            error_message=message,
            rollback_id=rollback.get("serviceRevisionArn"),
            rollback_message=(f"{status}: {rollback.get('reason') or 'rolled back'}" if rollback else None),
        )

    def find(self, plan: Plan, *, description: str) -> str | None:
        """The service's current deployment when the service already runs the plan's revision (an earlier try's
        UpdateService went through); None when it does not (that try stopped before UpdateService)."""
        with transient_errors(f"DescribeServices {self._cluster}/{self._service}"):
            services = self._client.describe_services(cluster=self._cluster, services=[self._service])["services"]
        for service in services:
            if service.get("taskDefinition") == plan.task_definition_arn and service.get("currentServiceDeployment"):
                return str(service["currentServiceDeployment"])
        return None

    def target(self, plan: Plan) -> str:
        """What the approval message says about where the plan deploys."""
        strategy = self._method.strategy or "the service's strategy"
        return f"ECS `{self._cluster}` / `{self._service}` ({strategy})"


class EcsDeploymentHooks:
    """The approval gate's side of an approval after test traffic: which hook a paused deployment waits at, and
    the decision (``ContinueServiceDeployment`` CONTINUE or ROLLBACK)."""

    def __init__(self, client: ECSClient, state: StateStore) -> None:
        self._client = client
        self._state = state

    def paused(self, pipeline: str, environment: str) -> PausedDeployment | None:
        """The deployment of the release holding the environment's lock, when it waits at slipway's hook."""
        lock = self._state.lock(pipeline, environment)
        plan = self._state.plan(lock.holder, environment) if lock else None
        token = self._state.deployment_token(plan.deployment_id) if plan and plan.deployment_id else None
        if token is None or token.completed_status:
            return None
        with transient_errors(f"DescribeServiceDeployments {token.deployment_id}"):
            deployments = self._client.describe_service_deployments(serviceDeploymentArns=[token.deployment_id])
        for deployment in deployments.get("serviceDeployments", []):
            if deployment.get("lifecycleStage") != APPROVAL_STAGE:
                continue
            for hook in deployment.get("lifecycleHookDetails", []):
                if hook.get("status") == "AWAITING_ACTION" and hook.get("hookId"):
                    return PausedDeployment(token, DeploymentHook(token.deployment_id, str(hook["hookId"])))
        return None

    def decide(self, hook: DeploymentHook, approved: bool) -> None:
        action: Literal["CONTINUE", "ROLLBACK"] = "CONTINUE" if approved else "ROLLBACK"
        with transient_errors(f"ContinueServiceDeployment {hook.deployment_id} {action}"):
            try:
                self._client.continue_service_deployment(
                    serviceDeploymentArn=hook.deployment_id, hookId=hook.hook_id, action=action
                )
            except ClientError as exc:
                # The hook timed out or the deployment ended: nothing waits for this decision any more.
                if exc.response["Error"]["Code"] in ("InvalidParameterException", "ServiceDeploymentNotFoundException"):
                    raise TokenNoLongerValid(f"{hook.deployment_id} no longer waits at hook {hook.hook_id}") from exc
                raise
