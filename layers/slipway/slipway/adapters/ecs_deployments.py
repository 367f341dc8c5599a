"""ECS-native deployments (deploymentController ECS): the second implementation of the release flow's ``Deployer``
(``slipway.domain.release.ports``).

``UpdateService`` with the plan's revision (and the environment's strategy settings, when configured) starts a
service deployment; its ARN (``currentServiceDeployment``) is the deployment id. ECS's ``ECS Deployment State
Change`` event (or one DescribeServiceDeployments after the wait timed out) says how it ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slipway.adapters.aws import transient_errors
from slipway.errors import SlipwayError
from slipway.models.config import EcsMethod, Environment
from slipway.models.records import DeploymentInfo
from slipway.models.release import Plan

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

# ServiceDeployment.status values that mean "not finished yet" (a rollback still running is not finished either).
RUNNING_STATUSES = frozenset({"PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"})
ROLLED_BACK = "ROLLBACK_SUCCESSFUL"


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
