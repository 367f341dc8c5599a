"""The CodePipeline Invoke action handler: moto for S3 (the artifact), ECR (the digest) and Step Functions;
botocore Stubber on the injected CodePipeline client (moto has no job APIs) validates every result request."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto.stepfunctions.models import stepfunctions_backends
from tests.support.handlers import LambdaContext, load_handler
from tests.support.paths import load_event
from tests.support.world import ACCOUNT, REGION, MotoWorld

from slipway.adapters.codepipeline import CodePipelineJobs
from slipway.domain.intake.codepipeline_job import run_codepipeline_job
from slipway.errors import MalformedEvent
from slipway.models.events import ArtifactCredentials
from slipway.models.release import release_id_for
from slipway.wiring import wiring

pytestmark = pytest.mark.integration

handler = load_handler("codepipeline_job").lambda_handler
JOB = load_event("codepipeline-job.json")["CodePipeline.job"]
JOB_ID = JOB["id"]
NEXT_JOB_ID = load_event("codepipeline-job-continuation.json")["CodePipeline.job"]["id"]
LOCATION = JOB["data"]["inputArtifacts"][0]["location"]["s3Location"]
SHA = "bb3216c31784c14a4550e0e09069cdfac00d0165"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
IMAGE_URI = f"{REGISTRY}/app-images:{SHA}"

TASKDEF = {  # the seed's taskdef-<env>.json as CodeDeployToECS expects it: <IMAGE1_NAME> for the image
    "family": "app-task",
    "containerDefinitions": [{"name": "web", "image": "<IMAGE1_NAME>", "essential": True}],
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "512",
    "memory": "1024",
}
APPSPEC = """version: 0.0
Resources:
  - TargetService:
      Type: "AWS::ECS::Service"
      Properties:
        TaskDefinition: "<TASK_DEFINITION>"
        LoadBalancerInfo:
          ContainerName: "web"
          ContainerPort: 3000
"""


def artifact_zip(image_detail: str | None = json.dumps({"ImageURI": IMAGE_URI})) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if image_detail is not None:
            archive.writestr("imageDetail.json", image_detail)
        for env in ("staging", "production"):
            archive.writestr(f"taskdef-{env}.json", json.dumps(TASKDEF, indent=2))
            archive.writestr(f"appspec-{env}.yaml", APPSPEC)
    return buffer.getvalue()


class Contains:
    """A Stubber expectation that matches any string containing every fragment (and remembers it)."""

    def __init__(self, *fragments: str) -> None:
        self.fragments = fragments
        self.seen: str | None = None

    def __eq__(self, other: object) -> bool:
        self.seen = other if isinstance(other, str) else None
        return isinstance(other, str) and all(f in other for f in self.fragments)

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"Contains{self.fragments} (got {self.seen!r})"


@dataclass
class Pipeline:
    cloud: MotoWorld
    stub: Stubber
    digest: str

    @property
    def execution_arn(self) -> str:
        name = str(self.cloud.settings.state_machine_arn).rsplit(":", 1)[-1]
        return f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{name}:{release_id_for('web-app', self.digest)}"

    def expect_success(self, continuation: str | None = None, summary: Any = ANY, job_id: str = JOB_ID) -> None:
        params: dict[str, Any] = {
            "jobId": job_id,
            "executionDetails": {"summary": summary, "externalExecutionId": ANY},
        }
        if continuation:
            params["continuationToken"] = continuation
        self.stub.add_response("put_job_success_result", {}, params)

    def expect_failure(self, *fragments: str, job_id: str = JOB_ID, release_known: bool = False) -> Contains:
        message = Contains(*fragments)
        details: dict[str, Any] = {"type": "JobFailed", "message": message}
        if release_known:
            details["externalExecutionId"] = release_id_for("web-app", self.digest)
        self.stub.add_response("put_job_failure_result", {}, {"jobId": job_id, "failureDetails": details})
        return message

    def finish(self, status: str, output: dict[str, Any] | None = None, error: str = "", cause: str = "") -> None:
        execution = stepfunctions_backends[ACCOUNT][REGION].describe_execution(self.execution_arn)
        execution.status = status
        execution.stop_date = datetime.now(UTC)
        execution.output = json.dumps(output) if output is not None else None
        execution.error = error or None
        execution.cause = cause or None


@pytest.fixture
def pipeline(moto_world_factory: Callable[..., MotoWorld]) -> Iterator[Pipeline]:
    cloud = moto_world_factory(run_executions=False)
    cloud.with_release_state_machine()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=LOCATION["bucketName"], CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=LOCATION["bucketName"], Key=LOCATION["objectKey"], Body=artifact_zip())
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="app-images")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 7023,
            "digest": "sha256:" + "b" * 64,
        },
        "layers": [],
    }
    image = ecr.put_image(repositoryName="app-images", imageManifest=json.dumps(manifest), imageTag=SHA)
    ecr.put_image(repositoryName="app-images", imageManifest=json.dumps(manifest), imageTag="latest")
    digest = image["image"]["imageId"]["imageDigest"]
    codepipeline = boto3.client("codepipeline")
    cloud.install(codepipeline=codepipeline)
    with Stubber(codepipeline) as stub:
        yield Pipeline(cloud, stub, digest)
        stub.assert_no_pending_responses()


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = handler(event, LambdaContext())
    return result


def continuation(token: str) -> dict[str, Any]:
    event = load_event("codepipeline-job-continuation.json")
    event["CodePipeline.job"]["data"]["continuationToken"] = token
    return event


def test_job_starts_the_release_and_continues_until_it_succeeds(pipeline: Pipeline) -> None:
    arn = pipeline.execution_arn
    pipeline.expect_success(continuation=arn, summary=Contains("started", f"app-images@{pipeline.digest}"))
    result = invoke(load_event("codepipeline-job.json"))
    assert (result["result"], result["execution_arn"]) == ("continuation", arn)

    (execution,) = pipeline.cloud.executions()
    release = pipeline.cloud.execution_input(execution["executionArn"])["release"]
    assert release["digest"] == pipeline.digest and release["commit"] == SHA
    assert release["tags"] == sorted([SHA, "latest"])
    assert (release["source"], release["codepipeline_job_id"]) == ("codepipeline", JOB_ID)
    assert sorted(release["artifacts"]) == [
        "appspec-production.yaml",
        "appspec-staging.yaml",
        "taskdef-production.json",
        "taskdef-staging.json",
    ]
    assert "<IMAGE1_NAME>" in release["artifacts"]["taskdef-staging.json"]  # placeholders reach rendering intact
    assert "<TASK_DEFINITION>" in release["artifacts"]["appspec-staging.yaml"]
    assert wiring().audit.release(release["release_id"]) is not None

    pipeline.expect_success(continuation=arn, summary=Contains("still running"), job_id=NEXT_JOB_ID)
    assert invoke(continuation(arn))["result"] == "continuation"

    pipeline.finish("SUCCEEDED", {"environment_results": [{}, {}]})
    pipeline.expect_success(continuation=None, summary=Contains("deployed every environment"), job_id=NEXT_JOB_ID)
    assert invoke(continuation(arn))["result"] == "success"


def test_failed_release_fails_the_job_with_its_reason(pipeline: Pipeline) -> None:
    pipeline.expect_success(continuation=pipeline.execution_arn)
    invoke(load_event("codepipeline-job.json"))
    pipeline.finish("FAILED", error="ReleaseFailed", cause="staging: CodeDeploy deployment d-ABC failed")
    message = pipeline.expect_failure(
        "FAILED", "ReleaseFailed", "CodeDeploy deployment d-ABC failed", job_id=NEXT_JOB_ID, release_known=True
    )
    result = invoke(continuation(pipeline.execution_arn))
    assert result["result"] == "failure" and result["message"] == message.seen


def test_rejected_release_fails_the_job(pipeline: Pipeline) -> None:
    pipeline.expect_success(continuation=pipeline.execution_arn)
    invoke(load_event("codepipeline-job.json"))
    pipeline.finish("SUCCEEDED", {"finalized": {"outcome": {"status": "REJECTED", "cause": "Rejected by <@U0A>"}}})
    pipeline.expect_failure("ended REJECTED", "Rejected by <@U0A>", job_id=NEXT_JOB_ID, release_known=True)
    assert invoke(continuation(pipeline.execution_arn))["result"] == "failure"


def test_a_second_job_for_the_same_digest_follows_the_running_release(pipeline: Pipeline) -> None:
    pipeline.expect_success(continuation=pipeline.execution_arn)
    invoke(load_event("codepipeline-job.json"))
    retry = load_event("codepipeline-job.json")
    retry["CodePipeline.job"]["id"] = "33333333-abcd-3333-abcd-333333abcdef"
    pipeline.expect_success(
        continuation=pipeline.execution_arn, summary=Contains("following"), job_id=retry["CodePipeline.job"]["id"]
    )
    assert invoke(retry)["result"] == "continuation"
    assert len(pipeline.cloud.executions()) == 1


def test_user_parameters_as_json_or_empty(pipeline: Pipeline) -> None:
    event = load_event("codepipeline-job.json")
    event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"] = '{"pipeline": "nope"}'
    pipeline.expect_failure("UserParameters names unknown pipeline 'nope' (configured: api, web-app)")
    assert invoke(event)["result"] == "failure"
    del event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]["UserParameters"]
    pipeline.expect_success(continuation=pipeline.execution_arn)
    assert invoke(event)["result"] == "continuation"


def _put_artifact(body: bytes) -> None:
    boto3.client("s3").put_object(Bucket=LOCATION["bucketName"], Key=LOCATION["objectKey"], Body=body)


@pytest.mark.parametrize(
    ("prepare", "fragments"),
    [
        (
            lambda: boto3.client("s3").delete_object(Bucket=LOCATION["bucketName"], Key=LOCATION["objectKey"]),
            ("input artifact 'build_output'", "does not exist"),
        ),
        (
            lambda: _put_artifact(artifact_zip(image_detail=None)),
            ("no imageDetail.json in the input artifact(s) build_output",),
        ),
        (
            lambda: _put_artifact(artifact_zip(image_detail='{"imageUri": "x"}')),
            ('imageDetail.json has no "ImageURI"',),
        ),
        (
            lambda: _put_artifact(artifact_zip(image_detail=json.dumps({"ImageURI": f"{REGISTRY}/app-images:v9"}))),
            ("image app-images:v9 was not found in ECR",),
        ),
        (lambda: _put_artifact(b"PK not really"), ("is not a zip file",)),
    ],
)
def test_artifact_problems_fail_the_job_with_an_actionable_message(
    pipeline: Pipeline, prepare: Any, fragments: tuple[str, ...]
) -> None:
    prepare()
    pipeline.expect_failure(*fragments)
    assert invoke(load_event("codepipeline-job.json"))["result"] == "failure"
    assert pipeline.cloud.executions() == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("data", "artifactCredentials"), "missing field CodePipeline.job.data.artifactCredentials"),
        (("data", "actionConfiguration"), "missing field CodePipeline.job.data.actionConfiguration"),
        (("accountId",), "missing field CodePipeline.job.accountId"),
    ],
)
def test_malformed_job_fails_with_the_missing_field(pipeline: Pipeline, path: tuple[str, ...], field: str) -> None:
    event = load_event("codepipeline-job.json")
    node = event["CodePipeline.job"]
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    pipeline.expect_failure(field)
    assert invoke(event)["result"] == "failure"


def test_job_without_id_raises_because_no_result_can_be_sent(pipeline: Pipeline) -> None:
    event = load_event("codepipeline-job.json")
    del event["CodePipeline.job"]["id"]
    with pytest.raises(MalformedEvent, match=r"CodePipeline\.job\.id"):
        invoke(event)


def test_unexpected_exception_still_ends_the_job(pipeline: Pipeline) -> None:
    def broken_s3(credentials: ArtifactCredentials) -> Any:
        raise RuntimeError("S3 endpoint unreachable")

    job = wiring().job()
    deps = dataclasses.replace(job, jobs=CodePipelineJobs(wiring().aws.codepipeline, s3_factory=broken_s3))
    pipeline.expect_failure("RuntimeError: S3 endpoint unreachable", "see the function's logs")
    assert run_codepipeline_job(load_event("codepipeline-job.json"), deps).result == "failure"


def test_artifact_is_read_with_the_jobs_credentials(pipeline: Pipeline) -> None:
    seen: list[ArtifactCredentials] = []

    def s3_factory(credentials: ArtifactCredentials) -> Any:
        seen.append(credentials)
        return boto3.client(
            "s3",
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
        )

    deps = dataclasses.replace(wiring().job(), jobs=CodePipelineJobs(wiring().aws.codepipeline, s3_factory=s3_factory))
    pipeline.expect_success(continuation=pipeline.execution_arn)
    assert run_codepipeline_job(load_event("codepipeline-job.json"), deps).result == "continuation"
    assert [c.access_key_id for c in seen] == [JOB["data"]["artifactCredentials"]["accessKeyId"]]
    assert seen[0].session_token == JOB["data"]["artifactCredentials"]["sessionToken"]
