"""The state machine's task inputs (``statemachine/release.asl.json`` builds them; the handlers parse them).

Unknown keys are refused: the ASL and these models change together.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from slipway.models.release import Plan, Release


class _Payload(BaseModel):
    # defer_build: each function validates one payload; the others are never built in its process (cold starts).
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class PrepareEnvironmentInput(_Payload):
    release: Release
    environment: str = Field(min_length=1)


class RequestApprovalInput(_Payload):
    task_token: str = Field(min_length=1)
    release: Release
    environment: str = Field(min_length=1)
    plan: Plan


class StartDeploymentInput(_Payload):
    task_token: str = Field(min_length=1)
    release: Release
    environment: str = Field(min_length=1)
    environments: list[str] = Field(default_factory=list)
    plan: Plan


class CheckDeploymentInput(_Payload):
    """The Deploy wait timed out: one look at the deployment decides."""

    release: Release
    environment: str = Field(min_length=1)


class CheckDeploymentRequest(_Payload):
    check_deployment: CheckDeploymentInput


class TaskError(_Payload):
    """What a Catch puts under ``ResultPath`` (``$.error``)."""

    error: str = Field(alias="Error")
    cause: str | None = Field(default=None, alias="Cause")


class FinalizeReleaseInput(_Payload):
    release: Release
    error: TaskError
