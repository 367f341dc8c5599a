"""Stand-in: starts the release execution for an ECR push (the real one lives in functions/ecr_push)."""

import os

import boto3

from slipway.models.release import Release, ReleaseInput, release_id_for


def lambda_handler(event, context):
    detail = event["detail"]
    digest = detail["image-digest"]
    release = Release(
        release_id=release_id_for("web-app", digest),
        pipeline="web-app",
        registry="123456789012.dkr.ecr.eu-west-2.amazonaws.com",
        repository=detail["repository-name"],
        digest=digest,
        tags=[detail.get("image-tag", "")],
    )
    body = ReleaseInput(release=release, environments=["staging", "production"])
    boto3.client("stepfunctions").start_execution(
        stateMachineArn=os.environ["SLIPWAY_STATE_MACHINE_ARN"],
        name=release.release_id,
        input=body.model_dump_json(),
    )
    return {"release_id": release.release_id, "function": context.function_name}
