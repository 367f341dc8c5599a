"""How an environment's new task definition is rolled out (``deployment:`` in a pipeline file): CodeDeploy blue/green
or ECS's own deployment controller (docs/deployers.md). Part of the configuration reference (``make config-reference``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# An environment's approval after test traffic: the hooks answer with the control plane's own clients, so an
# environment in another account or region (``target``) cannot use it yet.
AFTER_TEST_TRAFFIC_NEEDS = (
    "approval.stage after_test_traffic needs approval.required: true, and is not available for an environment with "
    "a target (another account or region) yet: set approval.required true, or use approval.stage before_deploy"
)


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo in config must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CodeDeployMethod(StrictModel):
    """ECS blue/green through CodeDeploy (the service's deploymentController is CODE_DEPLOY)."""

    type: Literal["codedeploy"] = Field(
        default="codedeploy", description="The deployment method: CodeDeploy blue/green (docs/deployers.md)."
    )
    application: str = Field(
        min_length=1, max_length=100, description="The CodeDeploy application (ECS platform).", examples=["my-app"]
    )
    deployment_group: str = Field(
        min_length=1,
        max_length=100,
        description="The blue/green deployment group that targets this environment's service.",
        examples=["my-app-production"],
    )
    deployment_config: str | None = Field(
        default=None,
        description="A CodeDeploy deployment configuration; defaults to the deployment group's own.",
        examples=["CodeDeployDefault.ECSCanary10Percent5Minutes"],
    )
    wait_timeout_minutes: int = Field(
        default=180,
        ge=1,
        le=24 * 60,
        description="How long to wait for CodeDeploy's state-change event before one GetDeployment check.",
    )


class EcsMethod(StrictModel):
    """ECS's own deployment controller (deploymentController ECS): UpdateService with the new revision, rolling or
    ECS blue/green, linear or canary; ECS's ``ECS Deployment State Change`` event says how it ended."""

    type: Literal["ecs"] = Field(description="The deployment method: ECS-native (docs/deployers.md).")
    strategy: Literal["ROLLING", "BLUE_GREEN", "LINEAR", "CANARY"] | None = Field(
        default=None,
        description="The ECS deployment strategy; defaults to what the service already uses.",
        examples=["BLUE_GREEN"],
    )
    bake_time_minutes: int | None = Field(
        default=None,
        ge=0,
        le=1440,
        description="Blue/green, linear, canary: how long both revisions stay up after production traffic moved.",
        examples=[10],
    )
    linear_step_percent: float | None = Field(
        default=None, ge=3.0, le=100.0, description="LINEAR: the share of traffic each step moves.", examples=[10.0]
    )
    linear_step_bake_minutes: int | None = Field(
        default=None, ge=0, le=1440, description="LINEAR: the wait between steps.", examples=[2]
    )
    canary_percent: float | None = Field(
        default=None, ge=0.1, le=100.0, description="CANARY: the share of traffic the canary gets.", examples=[5.0]
    )
    canary_bake_minutes: int | None = Field(
        default=None, ge=0, le=1440, description="CANARY: how long the canary runs before the rest moves."
    )
    circuit_breaker: bool | None = Field(
        default=None,
        description="Turn ECS's deployment circuit breaker (with rollback) on or off; unset: the service's own. "
        "Without it ECS never reports a failed rolling deployment: slipway finds out at wait_timeout_minutes.",
    )
    wait_timeout_minutes: int = Field(
        default=60,
        ge=1,
        le=24 * 60,
        description="How long to wait for ECS's deployment event before one DescribeServiceDeployments check.",
    )

    @model_validator(mode="after")
    def _steps_match_strategy(self) -> EcsMethod:
        for prefix, strategy in (("linear_", "LINEAR"), ("canary_", "CANARY")):
            given = [name for name, value in self if name.startswith(prefix) and value is not None]
            if given and self.strategy != strategy:
                raise ValueError(f"{', '.join(given)} only apply to strategy {strategy}: set strategy: {strategy}")
        if self.bake_time_minutes is not None and self.strategy == "ROLLING":
            raise ValueError("bake_time_minutes does not apply to ROLLING (no second revision stays up): remove it")
        return self


DeploymentMethod = Annotated[CodeDeployMethod | EcsMethod, Field(discriminator="type")]
DEPLOYMENT_TYPES = ("codedeploy", "ecs")
