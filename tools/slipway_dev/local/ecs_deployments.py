"""The ECS service deployment simulation (moto 5.2.5 has none): ``UpdateService`` on a service whose
deploymentController is ECS starts a service deployment that walks the documented lifecycle stages of its strategy
on its own, and each change is emitted as ECS's ``ECS Deployment State Change`` event through the same EventBridge
routing as any other event. ``DescribeServiceDeployments`` and ``ListServiceDeployments`` answer as AWS documents
them (moto raises NotImplementedError). A PAUSE lifecycle hook stops the deployment at its stage, emits ``ECS Hook
State Change`` (HOOK_AWAITING_ACTION) and waits for ``ContinueServiceDeployment`` (CONTINUE goes on, ROLLBACK rolls
back) or for its timeout, whose action it then takes.

How it ends: SUCCESSFUL after ``codedeploy_delay`` seconds; a deployment of an environment in ``fail_deployments``
(or ``$SLIPWAY_LOCAL_FAIL_DEPLOYMENTS``, or a service whose name says "fail") fails. A failing deployment with the
circuit breaker on rolls back (ROLLBACK_SUCCESSFUL, the previous revision serves again) and emits
SERVICE_DEPLOYMENT_FAILED; without it, as on AWS, it stays IN_PROGRESS and nothing is emitted.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from unittest import mock

from slipway_dev.local.base import FAIL_ENV_VAR
from slipway_dev.local.events import ecs_deployment_state_change_event, ecs_hook_state_change_event, put_event

if TYPE_CHECKING:
    from slipway_dev.local.cloud import LocalCloud

# The lifecycle stages a deployment of each strategy passes through (ECS developer guide, "lifecycle hooks").
ROLLING_STAGES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "CLEAN_UP")
TRAFFIC_STAGES = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
)


def _now() -> datetime:
    return datetime.now(UTC)


class EcsDeploymentSimulation:
    """Bound to one LocalCloud; ``patches()`` hooks it into moto's ECS."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self.lock = threading.Lock()
        # serviceDeploymentArn -> the ServiceDeployment, in the shape DescribeServiceDeployments answers
        self.deployments: dict[str, dict[str, Any]] = {}
        # hookId -> (set when ContinueServiceDeployment answers, the action it gave)
        self.decisions: dict[str, tuple[threading.Event, list[str]]] = {}
        self.hook_timeout_seconds: float | None = None  # None: the hook's own timeoutInMinutes

    def patches(self) -> list[Any]:
        from moto.ecs import responses as ecs_responses
        from moto.ecs.models import EC2ContainerServiceBackend

        simulation = self
        original_update = EC2ContainerServiceBackend.update_service

        def update_service(backend: Any, service_properties: dict[str, Any]) -> Any:
            configuration = service_properties.pop("deployment_configuration", None)
            previous = backend._get_service(service_properties.get("cluster", "default"), service_properties["service"])
            previous_task_definition = previous.task_definition
            service: Any = original_update(backend, service_properties)
            if (service.deployment_controller or {}).get("type") == "ECS":
                merged = {**(getattr(service, "deployment_configuration", None) or {}), **(configuration or {})}
                service.deployment_configuration = merged
                simulation.start(service, previous_task_definition)
            return service

        def describe_service_deployments(response: Any) -> Any:
            from moto.core.responses import ActionResult

            found, failures = [], []
            with simulation.lock:
                for arn in response._get_param("serviceDeploymentArns", []):
                    if arn in simulation.deployments:
                        found.append(_copy(simulation.deployments[arn]))
                    else:
                        failures.append(
                            {"arn": arn, "reason": "MISSING", "detail": "The service deployment was not found."}
                        )
            return ActionResult({"serviceDeployments": found, "failures": failures})

        def list_service_deployments(response: Any) -> Any:
            from moto.core.responses import ActionResult

            service = str(response._get_param("service")).rsplit("/", 1)[-1]
            cluster = str(response._get_param("cluster", "default")).rsplit("/", 1)[-1]
            statuses = response._get_param("status") or []
            window = response._get_param("createdAt") or {}
            after, before = (_when(window.get(key)) for key in ("after", "before"))
            with simulation.lock:
                briefs = [
                    {
                        key: deployment.get(key)
                        for key in (
                            "serviceDeploymentArn",
                            "serviceArn",
                            "clusterArn",
                            "createdAt",
                            "startedAt",
                            "finishedAt",
                            "status",
                            "statusReason",
                        )
                    }
                    | {"targetServiceRevisionArn": deployment["targetServiceRevision"]["arn"]}
                    for deployment in reversed(simulation.deployments.values())
                    if deployment["serviceArn"].endswith(f"service/{cluster}/{service}")
                    and (not statuses or deployment["status"] in statuses)
                    and (after is None or deployment["createdAt"] >= after)
                    and (before is None or deployment["createdAt"] <= before)
                ]
            return ActionResult({"serviceDeployments": briefs})

        def continue_service_deployment(response: Any) -> Any:
            from moto.core.responses import ActionResult

            arn = str(response._get_param("serviceDeploymentArn"))
            simulation.continue_deployment(arn, str(response._get_param("hookId")), response._get_param("action"))
            return ActionResult({"serviceDeploymentArn": arn})

        return [
            mock.patch.object(
                ecs_responses.EC2ContainerServiceResponse,
                "continue_service_deployment",
                continue_service_deployment,
                create=True,
            ),
            mock.patch.object(EC2ContainerServiceBackend, "update_service", update_service),
            mock.patch.object(
                ecs_responses.EC2ContainerServiceResponse,
                "describe_service_deployments",
                describe_service_deployments,
                create=True,
            ),
            mock.patch.object(
                ecs_responses.EC2ContainerServiceResponse,
                "list_service_deployments",
                list_service_deployments,
                create=True,
            ),
        ]

    def configure(self, cluster: str, service_name: str, configuration: dict[str, Any]) -> None:
        """Give a seeded service its deploymentConfiguration (ROLLING unless it says otherwise)."""
        from moto.ecs.models import ecs_backends

        service: Any = ecs_backends[self.cloud.account][self.cloud.region]._get_service(cluster, service_name)
        service.deployment_configuration = {"strategy": "ROLLING", **configuration}

    def fails(self, service_name: str) -> bool:
        from slipway.domain.config import LocalConfigSource, load_config

        names = set(self.cloud.fail_deployments)
        names |= {n.strip() for n in os.environ.get(FAIL_ENV_VAR, "").split(",") if n.strip()}
        config = load_config(LocalConfigSource(self.cloud.config_dir))
        environments = {
            env.service: env.name
            for pipeline in config.pipelines.values()
            for env in pipeline.environments
            if env.deployment.type == "ecs"
        }
        return service_name in names or environments.get(service_name, "\0") in names or "fail" in service_name.lower()

    def start(self, service: Any, previous_task_definition: str | None) -> None:
        """A new service deployment: PENDING -> IN_PROGRESS through the strategy's stages -> SUCCESSFUL, or the
        failure the circuit breaker decides. Like the CodeDeploy simulation, it ends only after the invocations
        running when it started (StartDeployment stores its task token after UpdateService returns)."""
        cloud = self.cloud
        in_flight = cloud.runner.in_flight()
        configuration = dict(service.deployment_configuration or {})
        strategy = configuration.get("strategy") or "ROLLING"
        breaker = configuration.get("deploymentCircuitBreaker") or {}
        deployment_id = uuid.uuid4().hex[:22]
        prefix = f"arn:aws:ecs:{cloud.region}:{cloud.account}"
        revision = f"{prefix}:service-revision/{service.cluster_name}/{service.name}/{uuid.uuid4().int % 10**19}"
        previous_revision = getattr(service, "slipway_service_revision", None)
        arn = f"{prefix}:service-deployment/{service.cluster_name}/{service.name}/{deployment_id}"
        ecs_deployment_id = f"ecs-svc/{uuid.uuid4().int % 10**19}"
        now = _now()
        deployment: dict[str, Any] = {
            "serviceDeploymentArn": arn,
            "serviceArn": service.arn,
            "clusterArn": service.cluster_arn,
            "createdAt": now,
            "updatedAt": now,
            "sourceServiceRevisions": [{"arn": previous_revision}] if previous_revision else [],
            "targetServiceRevision": {"arn": revision, "requestedTaskCount": service.desired_count},
            "status": "PENDING",
            "deploymentConfiguration": configuration,
            "deploymentCircuitBreaker": {"status": "MONITORING" if breaker.get("enable") else "DISABLED"},
        }
        with self.lock:
            self.deployments[arn] = deployment
        service.current_service_deployment = arn
        service.slipway_service_revision = revision
        if service.deployments:
            service.deployments[0].update(id=ecs_deployment_id, taskDefinition=service.task_definition)

        def run() -> None:
            self._set(deployment, status="IN_PROGRESS", startedAt=_now(), lifecycleStage="RECONCILE_SERVICE")
            self.emit(service, ecs_deployment_id, "SERVICE_DEPLOYMENT_IN_PROGRESS", "INFO")
            if cloud.codedeploy_delay:
                cloud.stopping.wait(cloud.codedeploy_delay)
            cloud.runner.wait_finished(in_flight, timeout=60)
            stages = ROLLING_STAGES if strategy == "ROLLING" else TRAFFIC_STAGES
            if cloud.stopping.is_set():
                return
            if self.fails(service.name):
                self._set(deployment, lifecycleStage="SCALE_UP")
                if not breaker.get("enable"):
                    return  # as on AWS: no circuit breaker, no FAILED; only DescribeServiceDeployments can tell
                reason = f"Simulated failure of {service.name} (slipway local cloud): tasks failed to start"
                self._set(
                    deployment,
                    status="ROLLBACK_SUCCESSFUL",
                    statusReason=reason,
                    finishedAt=_now(),
                    deploymentCircuitBreaker={"status": "TRIGGERED", "failureCount": 3, "threshold": 3},
                    rollback={
                        "reason": "Circuit breaker triggered: rolled back to the previous service revision",
                        "startedAt": _now(),
                        "serviceRevisionArn": previous_revision or revision,
                    },
                )
                if previous_task_definition:
                    service.task_definition = previous_task_definition  # the previous revision serves again
                self.emit(service, ecs_deployment_id, "SERVICE_DEPLOYMENT_FAILED", "ERROR", reason)
                return
            for stage in stages:
                self._set(deployment, lifecycleStage=stage)
                hook = _pause_hook(configuration, stage)
                if hook is not None and not self._paused(service, deployment, ecs_deployment_id, hook):
                    self._roll_back(service, deployment, ecs_deployment_id, previous_task_definition, previous_revision)
                    return
            self._set(deployment, status="SUCCESSFUL", finishedAt=_now(), statusReason="Service deployment completed")
            self.emit(service, ecs_deployment_id, "SERVICE_DEPLOYMENT_COMPLETED", "INFO")

        cloud.start_thread(run, f"ecs-deployment-{deployment_id}")

    def _paused(self, service: Any, deployment: dict[str, Any], ecs_deployment_id: str, hook: dict[str, Any]) -> bool:
        """A PAUSE hook: AWAITING_ACTION until ContinueServiceDeployment (True for CONTINUE) or its timeout (its
        ``timeoutConfiguration.action``; ``hook_timeout_seconds`` shortens the wait in tests)."""
        timeout = hook.get("timeoutConfiguration") or {}
        seconds = self.hook_timeout_seconds or 60.0 * float(timeout.get("timeoutInMinutes") or 60)
        hook_id = uuid.uuid4().hex
        decided = threading.Event()
        with self.lock:
            self.decisions[hook_id] = (decided, [])
        detail = {
            "hookId": hook_id,
            "targetType": "PAUSE",
            "status": "AWAITING_ACTION",
            "expiresAt": datetime.fromtimestamp(time.time() + seconds, UTC),
            "timeoutAction": timeout.get("action") or "ROLLBACK",
        }
        self._set(deployment, lifecycleHookDetails=[detail])
        self.emit_hook(service, deployment, ecs_deployment_id, hook_id)
        answered = decided.wait(seconds)
        with self.lock:
            actions = self.decisions.pop(hook_id)[1]
        action = actions[0] if answered and actions else detail["timeoutAction"]
        status = "SUCCEEDED" if answered else "TIMED_OUT"
        self._set(deployment, lifecycleHookDetails=[{**detail, "status": status}])
        if action == "ROLLBACK":
            reason = "rolled back by ContinueServiceDeployment" if answered else "the PAUSE hook timed out"
            self._set(deployment, statusReason=f"Lifecycle hook {hook_id}: {reason}")
        return bool(action == "CONTINUE")

    def _roll_back(
        self,
        service: Any,
        deployment: dict[str, Any],
        ecs_deployment_id: str,
        previous_task_definition: str | None,
        previous_revision: str | None,
    ) -> None:
        """ROLLBACK_SUCCESSFUL: the previous revision serves again; ECS reports the deployment failed."""
        reason = str(deployment.get("statusReason") or "rolled back")
        self._set(
            deployment,
            status="ROLLBACK_SUCCESSFUL",
            finishedAt=_now(),
            rollback={"reason": reason, "startedAt": _now(), "serviceRevisionArn": previous_revision},
        )
        if previous_task_definition:
            service.task_definition = previous_task_definition
        self.emit(service, ecs_deployment_id, "SERVICE_DEPLOYMENT_FAILED", "ERROR", reason)

    def continue_deployment(self, arn: str, hook_id: str, action: str) -> None:
        """ContinueServiceDeployment: answer the hook a deployment waits at (InvalidParameterException when it
        does not wait there, as AWS answers)."""
        from moto.ecs.exceptions import InvalidParameterException

        with self.lock:
            deployment = self.deployments.get(arn)
            waiting = self.decisions.get(hook_id)
            hooks = (deployment or {}).get("lifecycleHookDetails") or []
            if deployment is None or waiting is None or not any(h.get("hookId") == hook_id for h in hooks):
                raise InvalidParameterException(f"The service deployment {arn} is not waiting at hook {hook_id}.")
            waiting[1].append(action or "CONTINUE")
        waiting[0].set()

    def _set(self, deployment: dict[str, Any], **fields: Any) -> None:
        with self.lock:
            deployment.update(fields, updatedAt=_now())

    def emit_hook(self, service: Any, deployment: dict[str, Any], ecs_deployment_id: str, hook_id: str) -> None:
        """Send ECS's ``ECS Hook State Change`` (HOOK_AWAITING_ACTION) of a PAUSE hook reached."""
        event = ecs_hook_state_change_event(
            service_arn=service.arn,
            deployment_id=ecs_deployment_id,
            service_deployment_arn=deployment["serviceDeploymentArn"],
            hook_id=hook_id,
            lifecycle_stage=str(deployment.get("lifecycleStage")),
            region=self.cloud.region,
            account=self.cloud.account,
        )
        put_event(self.cloud.client("events"), event)

    def emit(self, service: Any, ecs_deployment_id: str, event_name: str, event_type: str, reason: str = "") -> None:
        """Send ECS's ``ECS Deployment State Change`` event of ``service``."""
        event = ecs_deployment_state_change_event(
            service_arn=service.arn,
            deployment_id=ecs_deployment_id,
            event_name=event_name,
            event_type=event_type,
            reason=reason or f"ECS deployment {ecs_deployment_id} {event_name.rsplit('_', 1)[-1].lower()}.",
            region=self.cloud.region,
            account=self.cloud.account,
        )
        put_event(self.cloud.client("events"), event)


def _pause_hook(configuration: dict[str, Any], stage: str) -> dict[str, Any] | None:
    for hook in configuration.get("lifecycleHooks") or []:
        if hook.get("targetType") == "PAUSE" and stage in (hook.get("lifecycleStages") or []):
            return dict(hook)
    return None


def _when(value: Any) -> datetime | None:
    """A request's timestamp (epoch seconds, as botocore's JSON protocol sends it) as a datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):  # moto parsed it already: naive means UTC
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(float(value), UTC)


def _copy(deployment: dict[str, Any]) -> dict[str, Any]:
    return {key: (dict(value) if isinstance(value, dict) else value) for key, value in deployment.items()}
