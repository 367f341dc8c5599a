"""The CodeDeploy simulation: a deployment moves Created -> InProgress -> Succeeded (or Failed) on its own after
``codedeploy_delay`` seconds, and each change is emitted as CodeDeploy's documented state-change event through the
same EventBridge routing as any other event. Which deployments fail: ``fail_deployments`` (groups or environment
names), ``$SLIPWAY_LOCAL_FAIL_DEPLOYMENTS``, or a group whose name says "fail"."""

from __future__ import annotations

import os
import time
import uuid
from typing import TYPE_CHECKING, Any
from unittest import mock

from slipway_dev.local.base import FAIL_ENV_VAR
from slipway_dev.local.events import codedeploy_state_change_event, put_event

if TYPE_CHECKING:
    from slipway_dev.local.cloud import LocalCloud


class CodeDeploySimulation:
    """Bound to one LocalCloud; ``patches()`` hooks it into moto's CodeDeploy."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud

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
            return info

        return [
            mock.patch.object(CodeDeployBackend, "create_deployment", create_deployment),
            mock.patch.object(codedeploy_responses, "_deployment_info", deployment_info),
        ]

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
        deployment.status = "InProgress"
        deployment.start_time = time.time()

        def finish() -> None:
            self.emit(deployment, "START")
            if cloud.codedeploy_delay:
                cloud.stopping.wait(cloud.codedeploy_delay)
            cloud.runner.wait_finished(in_flight, timeout=60)
            if cloud.stopping.is_set():
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
        """Send the state-change event of ``deployment`` entering ``state`` (START, SUCCESS, FAILURE)."""
        event = codedeploy_state_change_event(
            application=deployment.application_name,
            deployment_group=deployment.deployment_group_name,
            deployment_id=deployment.deployment_id,
            instance_group_id=getattr(deployment.deployment_group, "deployment_group_id", str(uuid.uuid4())),
            state=state,
            region=self.cloud.region,
            account=self.cloud.account,
        )
        put_event(self.cloud.client("events"), event)
