"""The approval gate's ``DeploymentHooks``: a deployment held for an approval after test traffic is answered by the
deployer that holds it (``DeploymentHook.kind``): ECS's PAUSE hook or CodeDeploy's ready wait."""

from __future__ import annotations

from slipway.adapters.codedeploy import CodeDeployReadyWait
from slipway.adapters.ecs_deployments import EcsDeploymentHooks
from slipway.models.records import DeploymentHook, PausedDeployment


class DeploymentHooks:
    def __init__(self, ecs: EcsDeploymentHooks, codedeploy: CodeDeployReadyWait) -> None:
        self._ecs = ecs
        self._codedeploy = codedeploy

    def paused(self, pipeline: str, environment: str) -> PausedDeployment | None:
        return self._ecs.paused(pipeline, environment)

    def ready(self, deployment_id: str) -> PausedDeployment | None:
        return self._codedeploy.ready(deployment_id)

    def decide(self, hook: DeploymentHook, approved: bool) -> None:
        if hook.kind == "codedeploy":
            self._codedeploy.decide(hook, approved)
        else:
            self._ecs.decide(hook, approved)
