"""Incoming events, in exactly the shapes AWS documents them.

- ``EcrImageActionEvent``: the EventBridge event ``aws.ecr`` / ``ECR Image Action``
  (https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html), built on Powertools'
  ``EventBridgeModel`` with a typed ``detail``.
- ``CodePipelineJobEvent``: what CodePipeline sends a Lambda Invoke action (``{"CodePipeline.job": {...}}``,
  https://docs.aws.amazon.com/codepipeline/latest/userguide/actions-invoke-lambda-function.html).

Unknown keys are allowed (AWS adds fields over time, e.g. ``artifact-media-type``); missing documented keys are
errors. ``parse_event`` turns pydantic's error into ``MalformedEvent`` naming the missing or invalid field.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from slipway.errors import MalformedEvent
from slipway.models.release import DIGEST_PATTERN


class _AwsShape(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


# ---------------------------------------------------------------------------------------------- ECR
class EcrImageActionDetail(_AwsShape):
    action_type: str = Field(alias="action-type", description="PUSH or DELETE.")
    result: str = Field(description="SUCCESS or FAILURE.")
    repository_name: str = Field(alias="repository-name", min_length=1)
    image_digest: str = Field(alias="image-digest", pattern=DIGEST_PATTERN)
    image_tag: str | None = Field(
        default=None, alias="image-tag", description="Absent for a push by digest (e.g. a multi-arch child)."
    )


class EcrImageActionEvent(EventBridgeModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    source: Literal["aws.ecr"]
    detail_type: Literal["ECR Image Action"] = Field(alias="detail-type")
    detail: EcrImageActionDetail  # narrowed from Powertools' RawDictOrModel

    @property
    def registry(self) -> str:
        """The registry host of the account and region the image was pushed to."""
        suffix = "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"
        return f"{self.account}.dkr.ecr.{self.region}.{suffix}"


# ---------------------------------------------------------------------------------------------- CodePipeline
class S3Location(_AwsShape):
    bucket_name: str = Field(alias="bucketName", min_length=1)
    object_key: str = Field(alias="objectKey", min_length=1)


class ArtifactLocation(_AwsShape):
    type: str = "S3"
    s3_location: S3Location = Field(alias="s3Location")


class Artifact(_AwsShape):
    name: str
    revision: str | None = None
    location: ArtifactLocation


class ArtifactCredentials(_AwsShape):
    access_key_id: str = Field(alias="accessKeyId", min_length=1)
    secret_access_key: str = Field(alias="secretAccessKey", min_length=1, repr=False)
    session_token: str = Field(alias="sessionToken", min_length=1, repr=False)
    expiration_time: int | None = Field(default=None, alias="expirationTime")


class ActionConfigurationValues(_AwsShape):
    function_name: str | None = Field(default=None, alias="FunctionName")
    user_parameters: str | None = Field(default=None, alias="UserParameters")


class ActionConfiguration(_AwsShape):
    configuration: ActionConfigurationValues = Field(default_factory=ActionConfigurationValues)


class CodePipelineJobData(_AwsShape):
    action_configuration: ActionConfiguration = Field(alias="actionConfiguration")
    input_artifacts: list[Artifact] = Field(alias="inputArtifacts", default_factory=list)
    output_artifacts: list[Artifact] = Field(alias="outputArtifacts", default_factory=list)
    artifact_credentials: ArtifactCredentials = Field(alias="artifactCredentials")
    continuation_token: str | None = Field(default=None, alias="continuationToken")


class CodePipelineJob(_AwsShape):
    id: str = Field(min_length=1)
    account_id: str = Field(alias="accountId")
    data: CodePipelineJobData


class CodePipelineJobEvent(_AwsShape):
    job: CodePipelineJob = Field(alias="CodePipeline.job")


# ---------------------------------------------------------------------------------------------- parsing
M = TypeVar("M", bound=BaseModel)


def describe_validation_error(error: ValidationError) -> str:
    """``detail.image-digest: field required`` - the path as it appears in the event, using AWS's key names."""
    problems = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "(event)"
        if item["type"] == "missing":
            problems.append(f"missing field {path}")
        else:
            problems.append(f"{path}: {item['msg']}")
    return "; ".join(problems)


def parse_event(model: type[M], event: Any, what: str) -> M:
    """Validate ``event`` against ``model``; a malformed event raises ``MalformedEvent`` naming the field."""
    if not isinstance(event, dict):
        raise MalformedEvent(f"{what}: expected a JSON object, got {type(event).__name__}")
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise MalformedEvent(f"{what}: {describe_validation_error(exc)}") from None
