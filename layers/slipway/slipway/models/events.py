"""Incoming events, in exactly the shapes AWS documents them.

- ``EcrImageActionEvent``: the EventBridge event ``aws.ecr`` / ``ECR Image Action``
  (https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html), built on Powertools'
  ``EventBridgeModel`` with a typed ``detail``.
- ``EcrPutImageCallEvent``: CloudTrail's record of ECR ``PutImage`` as EventBridge delivers it (``aws.ecr`` /
  ``AWS API Call via CloudTrail``; https://docs.aws.amazon.com/AmazonECR/latest/userguide/logging-using-cloudtrail.html):
  who pushed (``detail.userIdentity``), which repository and digest.
- ``CodePipelineJobEvent``: what CodePipeline sends a Lambda Invoke action (``{"CodePipeline.job": {...}}``,
  https://docs.aws.amazon.com/codepipeline/latest/userguide/actions-invoke-lambda-function.html).
- ``CodeDeployStateChangeEvent``: EventBridge ``aws.codedeploy`` / ``CodeDeploy Deployment State-change
  Notification`` (https://docs.aws.amazon.com/codedeploy/latest/userguide/monitoring-cloudwatch-events.html).
- ``EcsDeploymentStateChangeEvent``: EventBridge ``aws.ecs`` / ``ECS Deployment State Change``
  (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_service_deployment_events.html).
- ``EcsHookStateChangeEvent``: EventBridge ``aws.ecs`` / ``ECS Hook State Change`` (a PAUSE lifecycle hook reached).
- ``CodePipelineApprovalNotification``: the SNS message of a Manual approval action (read through Powertools'
  ``SnsEnvelope``; https://docs.aws.amazon.com/codepipeline/latest/userguide/approvals-json-format.html).

Unknown keys are allowed (AWS adds fields over time, e.g. ``artifact-media-type``); missing documented keys are
errors. ``slipway.models.parsing.parse_event`` turns pydantic's error into ``MalformedEvent`` naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, field_validator

from slipway.models.release import DIGEST_PATTERN


class _AwsShape(BaseModel):
    # defer_build: a model's validator is built when it first validates, not at import; each function reads one or
    # two of these events, so the others never cost its cold start anything (bench/README.md, cold_import_ratio).
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True, defer_build=True)


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
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True, defer_build=True)

    source: Literal["aws.ecr"]
    detail_type: Literal["ECR Image Action"] = Field(alias="detail-type")
    detail: EcrImageActionDetail  # narrowed from Powertools' RawDictOrModel

    @property
    def registry(self) -> str:
        """The registry host of the account and region the image was pushed to."""
        suffix = "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"
        return f"{self.account}.dkr.ecr.{self.region}.{suffix}"


class CloudTrailUserIdentity(_AwsShape):
    """CloudTrail's ``userIdentity``: ``arn`` is the principal (a user, or an assumed-role session)."""

    type: str
    arn: str | None = None
    principal_id: str | None = Field(default=None, alias="principalId")
    account_id: str | None = Field(default=None, alias="accountId")


class EcrPutImageRequest(_AwsShape):
    repository_name: str = Field(alias="repositoryName", min_length=1)
    registry_id: str | None = Field(default=None, alias="registryId")
    image_tag: str | None = Field(default=None, alias="imageTag")


class EcrImageId(_AwsShape):
    image_digest: str = Field(alias="imageDigest", pattern=DIGEST_PATTERN)
    image_tag: str | None = Field(default=None, alias="imageTag")


class EcrPutImageImage(_AwsShape):
    image_id: EcrImageId = Field(alias="imageId")


class EcrPutImageResponse(_AwsShape):
    image: EcrPutImageImage


class EcrPutImageCallDetail(_AwsShape):
    event_source: Literal["ecr.amazonaws.com"] = Field(alias="eventSource")
    event_name: Literal["PutImage"] = Field(alias="eventName")
    event_id: str | None = Field(default=None, alias="eventID")
    user_identity: CloudTrailUserIdentity = Field(alias="userIdentity")
    request_parameters: EcrPutImageRequest = Field(alias="requestParameters")
    response_elements: EcrPutImageResponse | None = Field(
        default=None, alias="responseElements", description="Absent (null) when the call failed."
    )
    error_code: str | None = Field(default=None, alias="errorCode")


class EcrPutImageCallEvent(EventBridgeModel):
    """EventBridge ``aws.ecr`` / ``AWS API Call via CloudTrail`` for ``PutImage`` (a trail must be logging)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True, defer_build=True)

    source: Literal["aws.ecr"]
    detail_type: Literal["AWS API Call via CloudTrail"] = Field(alias="detail-type")
    detail: EcrPutImageCallDetail


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


# ---------------------------------------------------------------------------------------------- CodeDeploy
CODEDEPLOY_STATE_CHANGE = "CodeDeploy Deployment State-change Notification"


class CodeDeployStateChangeDetail(_AwsShape):
    deployment_id: str = Field(alias="deploymentId", min_length=1)
    state: str = Field(min_length=1, description="START, SUCCESS, FAILURE, STOP, READY, ...")
    application: str | None = None
    deployment_group: str | None = Field(default=None, alias="deploymentGroup")


class CodeDeployStateChangeEvent(EventBridgeModel):
    """EventBridge ``aws.codedeploy`` / ``CodeDeploy Deployment State-change Notification``."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True, defer_build=True)

    source: Literal["aws.codedeploy"]
    detail_type: Literal["CodeDeploy Deployment State-change Notification"] = Field(alias="detail-type")
    detail: CodeDeployStateChangeDetail


# ---------------------------------------------------------------------------------------------- ECS
ECS_DEPLOYMENT_STATE_CHANGE = "ECS Deployment State Change"


class EcsDeploymentStateChangeDetail(_AwsShape):
    event_type: str | None = Field(default=None, alias="eventType", description="INFO or ERROR.")
    event_name: str = Field(
        alias="eventName",
        min_length=1,
        description="SERVICE_DEPLOYMENT_IN_PROGRESS, SERVICE_DEPLOYMENT_COMPLETED or SERVICE_DEPLOYMENT_FAILED.",
    )
    deployment_id: str = Field(alias="deploymentId", min_length=1, description="ecs-svc/..., not the ARN.")
    reason: str | None = None


class EcsDeploymentStateChangeEvent(EventBridgeModel):
    """EventBridge ``aws.ecs`` / ``ECS Deployment State Change``; ``resources[0]`` is the service's ARN."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    source: Literal["aws.ecs"]
    detail_type: Literal["ECS Deployment State Change"] = Field(alias="detail-type")
    detail: EcsDeploymentStateChangeDetail

    @property
    def service(self) -> tuple[str, str] | None:
        return service_of(self.resources)


def service_of(resources: list[str]) -> tuple[str, str] | None:
    """(cluster name, service name) of the service ARN in an ECS event's ``resources``
    (``…:service/<cluster>/<service>``); None for the old ARN format, which names no cluster."""
    for arn in resources:
        parts = arn.split(":", 5)[-1].split("/")
        if len(parts) == 3 and parts[0] == "service":
            return parts[1], parts[2]
    return None


ECS_HOOK_STATE_CHANGE = "ECS Hook State Change"
HOOK_AWAITING_ACTION = "HOOK_AWAITING_ACTION"


class EcsHookStateChangeDetail(_AwsShape):
    event_name: str = Field(alias="eventName", min_length=1, description="HOOK_AWAITING_ACTION, ...")
    hook_id: str | None = Field(default=None, alias="hookId")
    service_deployment_arn: str | None = Field(default=None, alias="serviceDeploymentArn")
    lifecycle_stage: str | None = Field(default=None, alias="lifecycleStage")


class EcsHookStateChangeEvent(EventBridgeModel):
    """EventBridge ``aws.ecs`` / ``ECS Hook State Change``: a lifecycle hook's state (a PAUSE hook reached:
    ``HOOK_AWAITING_ACTION``); ``resources`` names the service. slipway reads the hook id from
    DescribeServiceDeployments, so only ``eventName`` is required here."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    source: Literal["aws.ecs"]
    detail_type: Literal["ECS Hook State Change"] = Field(alias="detail-type")
    detail: EcsHookStateChangeDetail

    @property
    def service(self) -> tuple[str, str] | None:
        return service_of(self.resources)


# ---------------------------------------------------------------------------------------------- CodePipeline approval
class ApprovalRequest(_AwsShape):
    pipeline_name: str = Field(alias="pipelineName", min_length=1)
    stage_name: str = Field(alias="stageName", min_length=1)
    action_name: str = Field(alias="actionName", min_length=1)
    token: str = Field(min_length=1, repr=False)
    expires: datetime
    external_entity_link: str | None = Field(default=None, alias="externalEntityLink")
    approval_review_link: str | None = Field(default=None, alias="approvalReviewLink")
    custom_data: str | None = Field(default=None, alias="customData")

    @field_validator("expires", mode="before")
    @classmethod
    def _iso_minutes(cls, value: object) -> object:
        """CodePipeline writes ``2016-07-07T20:22Z`` (minutes, no seconds); naive times are UTC."""
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"not a time: {value!r}") from None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return value


class CodePipelineApprovalNotification(_AwsShape):
    """The JSON a CodePipeline Manual approval action publishes to its SNS topic (the SNS ``Message``)."""

    region: str = ""
    console_link: str | None = Field(default=None, alias="consoleLink")
    approval: ApprovalRequest
