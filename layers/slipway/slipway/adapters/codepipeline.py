"""CodePipeline: a job's input artifact (read with the job's own credentials) and result, and Manual approvals.

moto implements none of PutJobSuccessResult / PutJobFailureResult: tests inject a client wrapped in
``botocore.stub.Stubber``, which still validates every request against the real API model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import ClientError

from slipway.errors import JobInputError, TokenNoLongerValid
from slipway.models.events import ArtifactCredentials, CodePipelineJob
from slipway.models.records import CodePipelineAction

if TYPE_CHECKING:
    from mypy_boto3_codepipeline import CodePipelineClient
    from mypy_boto3_s3 import S3Client

# Artifact buckets are SSE-KMS encrypted by default: SigV4 is required to read them.
ARTIFACT_S3_CONFIG = Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 4})
SUMMARY_MAX = 2048
MESSAGE_MAX = 5000

S3Factory = Callable[[ArtifactCredentials], "S3Client"]


def s3_with_artifact_credentials(credentials: ArtifactCredentials) -> S3Client:
    """An S3 client that uses the temporary credentials CodePipeline hands the job (not the function's role)."""
    import boto3

    client: S3Client = boto3.client(
        "s3",
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=ARTIFACT_S3_CONFIG,
    )
    return client


class CodePipelineJobs:
    def __init__(self, codepipeline: CodePipelineClient, s3_factory: S3Factory = s3_with_artifact_credentials) -> None:
        self._cp = codepipeline
        self._s3_factory = s3_factory

    def download_artifact(self, job: CodePipelineJob, index: int) -> bytes:
        artifact = job.data.input_artifacts[index]
        location = artifact.location.s3_location
        where = f"s3://{location.bucket_name}/{location.object_key}"
        s3 = self._s3_factory(job.data.artifact_credentials)
        try:
            body: bytes = s3.get_object(Bucket=location.bucket_name, Key=location.object_key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            raise JobInputError(f"input artifact {artifact.name!r} ({where}) does not exist") from None
        except s3.exceptions.NoSuchBucket:
            raise JobInputError(
                f"input artifact {artifact.name!r}: bucket {location.bucket_name!r} does not exist"
            ) from None
        return body

    def put_success(
        self, job_id: str, *, summary: str, continuation_token: str | None = None, external_id: str | None = None
    ) -> None:
        details: dict[str, Any] = {"summary": summary[:SUMMARY_MAX]}
        if external_id:
            details["externalExecutionId"] = external_id
        kwargs: dict[str, Any] = {"jobId": job_id, "executionDetails": details}
        if continuation_token:
            kwargs["continuationToken"] = continuation_token
        self._cp.put_job_success_result(**kwargs)

    def put_failure(self, job_id: str, message: str, *, external_id: str | None = None) -> None:
        details: dict[str, Any] = {"type": "JobFailed", "message": message[:MESSAGE_MAX]}
        if external_id:
            details["externalExecutionId"] = external_id
        self._cp.put_job_failure_result(jobId=job_id, failureDetails=details)  # type: ignore[arg-type]


APPROVAL_SUMMARY_MAX = 512


class CodePipelineApprovals:
    """Answers a CodePipeline Manual approval action (PutApprovalResult)."""

    def __init__(self, codepipeline: CodePipelineClient) -> None:
        self._cp = codepipeline

    def put_result(self, action: CodePipelineAction, approved: bool, summary: str) -> None:
        try:
            self._cp.put_approval_result(
                pipelineName=action.pipeline_name,
                stageName=action.stage_name,
                actionName=action.action_name,
                result={"summary": summary[:APPROVAL_SUMMARY_MAX], "status": "Approved" if approved else "Rejected"},
                token=action.token,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ApprovalAlreadyCompletedException":
                raise TokenNoLongerValid("CodePipeline says this approval was already answered") from None
            if code == "InvalidApprovalTokenException":
                raise TokenNoLongerValid(
                    "CodePipeline no longer accepts this approval (it expired or the pipeline moved on)"
                ) from None
            if code in ("ActionNotFoundException", "StageNotFoundException", "PipelineNotFoundException"):
                raise TokenNoLongerValid(f"CodePipeline cannot find this approval action ({code})") from None
            raise
