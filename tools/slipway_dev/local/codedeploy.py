"""The CodeDeploy simulation: a deployment moves Created -> InProgress -> Succeeded (or Failed) on its own after
``codedeploy_delay`` seconds, and each change is emitted as CodeDeploy's documented state-change event through the
same EventBridge routing as any other event. Which deployments fail: ``fail_deployments`` (groups or environment
names), ``$SLIPWAY_LOCAL_FAIL_DEPLOYMENTS``, or a group whose name says "fail"."""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any
from unittest import mock

from slipway_dev.local.base import FAIL_ENV_VAR
from slipway_dev.local.events import codedeploy_state_change_event, put_event, put_events_entry

if TYPE_CHECKING:
    from slipway_dev.local.cloud import LocalCloud


class CodeDeploySimulation:
    """Bound to one LocalCloud; ``patches()`` hooks it into moto's CodeDeploy."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        # deploymentId -> (set by ContinueDeployment / StopDeployment, what it said: "continue" or "stop")
        self.ready_waits: dict[str, tuple[threading.Event, list[str]]] = {}
        self.ready_wait_seconds: float | None = None  # None: the group's waitTimeInMinutes

    def patches(self) -> list[Any]:
        """CreateDeployment starts the simulation; GetDeployment reports a failure's errorInformation."""
        from moto.codedeploy import responses as codedeploy_responses
        from moto.codedeploy.models import CodeDeployBackend

        simulation = self
        original_create_deployment = CodeDeployBackend.create_deployment
        original_info = codedeploy_responses._deployment_info

        def create_deployment(backend: Any, *args: Any, **kwargs: Any) -> str:
            deployment_id: str = original_create_deployment(backend, *args, **kwargs)
            simulation.start(backend, deployment_id)
            return deployment_id

        def deployment_info(deployment: Any) -> dict[str, Any]:
            info: dict[str, Any] = original_info(deployment)
            error = getattr(deployment, "slipway_error_information", None)
            if error:
                info["errorInformation"] = error  # moto always answers {} here
            rollback = getattr(deployment, "slipway_rollback_information", None)
            if rollback:
                info["rollbackInfo"] = rollback
            return info

        def continue_deployment(response: Any) -> Any:
            from moto.core.responses import ActionResult

            simulation.answer(str(response._get_param("deploymentId")), "continue")
            return ActionResult({})

        def stop_deployment(response: Any) -> Any:
            from moto.core.responses import ActionResult

            simulation.answer(str(response._get_param("deploymentId")), "stop")
            return ActionResult({"status": "Pending", "statusMessage": "Stopping the deployment"})

        responses = codedeploy_responses.CodeDeployResponse
        return [
            mock.patch.object(CodeDeployBackend, "create_deployment", create_deployment),
            mock.patch.object(codedeploy_responses, "_deployment_info", deployment_info),
            mock.patch.object(responses, "continue_deployment", continue_deployment, create=True),
            mock.patch.object(responses, "stop_deployment", stop_deployment, create=True),
        ]

    def answer(self, deployment_id: str, what: str) -> None:
        """ContinueDeployment (READY_WAIT) or StopDeployment of a deployment waiting in its ready wait; AWS refuses
        either for a deployment not waiting there."""
        from moto.codedeploy.exceptions import DeploymentDoesNotExistException

        with self.cloud.lock:
            waiting = self.ready_waits.get(deployment_id)
            if waiting is None:
                raise DeploymentDoesNotExistException(f"{deployment_id} is not waiting in its ready wait")
            waiting[1].append(what)
        waiting[0].set()

    def _ready_wait(self, deployment: Any) -> str:
        """The ready wait of a group with ``deploymentReadyOption.actionOnTimeout: STOP_DEPLOYMENT``: status Ready,
        the READY event, then "continue" (ContinueDeployment) or "stop" (StopDeployment, or the wait timing out)."""
        config = getattr(deployment.deployment_group, "blue_green_deployment_configuration", None) or {}
        option = config.get("deploymentReadyOption") or {}
        if option.get("actionOnTimeout") != "STOP_DEPLOYMENT":
            return "continue"
        seconds = self.ready_wait_seconds or 60.0 * float(option.get("waitTimeInMinutes") or 0)
        answered = threading.Event()
        with self.cloud.lock:
            self.ready_waits[deployment.deployment_id] = (answered, [])
        deployment.status = "Ready"
        self.emit(deployment, "READY")
        answered.wait(seconds)
        with self.cloud.lock:
            said = self.ready_waits.pop(deployment.deployment_id)[1]
        return said[0] if said else "stop"

    def fails(self, group: str) -> bool:
        from slipway.domain.config import LocalConfigSource, load_config
        from slipway.models.config import CodeDeployMethod

        names = set(self.cloud.fail_deployments)
        names |= {n.strip() for n in os.environ.get(FAIL_ENV_VAR, "").split(",") if n.strip()}
        config = load_config(LocalConfigSource(self.cloud.config_dir))
        environments = {
            env.deployment.deployment_group: env.name
            for pipeline in config.pipelines.values()
            for env in pipeline.environments
            if isinstance(env.deployment, CodeDeployMethod)
        }
        return group in names or environments.get(group, "\0") in names or "fail" in group.lower()

    def start(self, backend: Any, deployment_id: str) -> None:
        """Created -> InProgress -> Succeeded/Failed, each change emitted as CodeDeploy's EventBridge event.

        The final state waits for the invocations running when the deployment was created (StartDeployment stores
        its task token after CreateDeployment returns): no deployment finishes before the call that started it.
        """
        cloud = self.cloud
        in_flight = cloud.runner.in_flight()
        deployment = backend.deployments[deployment_id]
        deployment.slipway_place = (backend.account_id, backend.region_name)
        deployment.status = "InProgress"
        deployment.start_time = time.time()

        def finish() -> None:
            self.emit(deployment, "START")
            if cloud.codedeploy_delay:
                cloud.stopping.wait(cloud.codedeploy_delay)
            cloud.runner.wait_finished(in_flight, timeout=60)
            if cloud.stopping.is_set():
                return
            if self._ready_wait(deployment) == "stop":
                deployment.status = "Stopped"
                deployment.complete_time = time.time()
                deployment.slipway_error_information = {
                    "code": "DEPLOYMENT_STOPPED",
                    "message": "Stopped in the ready wait (StopDeployment, or the wait timed out)",
                }
                deployment.slipway_rollback_information = {"rollbackMessage": "traffic never moved to the replacement"}
                self.emit(deployment, "STOP")
                return
            failed = self.fails(deployment.deployment_group_name)
            deployment.status = "Failed" if failed else "Succeeded"
            deployment.complete_time = time.time()
            if failed:
                deployment.slipway_error_information = {
                    "code": "ECS_UPDATE_ERROR",
                    "message": f"Simulated failure of {deployment.deployment_group_name} (slipway local cloud)",
                }
            self.emit(deployment, "FAILURE" if failed else "SUCCESS")

        cloud.start_thread(finish, f"codedeploy-{deployment_id}")

    def emit(self, deployment: Any, state: str) -> None:
        """Send the state-change event of ``deployment`` entering ``state`` (START, SUCCESS, FAILURE), on the
        default bus of the deployment's own account and region (another account's forwards it to the control
        plane's, as target-account.yaml's rule does)."""
        from moto.events.models import events_backends

        account, region = getattr(deployment, "slipway_place", (self.cloud.account, self.cloud.region))
        event = codedeploy_state_change_event(
            application=deployment.application_name,
            deployment_group=deployment.deployment_group_name,
            deployment_id=deployment.deployment_id,
            instance_group_id=getattr(deployment.deployment_group, "deployment_group_id", str(uuid.uuid4())),
            state=state,
            region=region,
            account=account,
        )
        if (account, region) == (self.cloud.account, self.cloud.region):
            put_event(self.cloud.client("events"), event)
            return
        events_backends[account][region].put_events([put_events_entry(event)])
