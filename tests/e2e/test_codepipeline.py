"""The CodePipeline ways in, through the real handlers on the embedded local cloud: an Invoke action's job starts a
release and is answered with a continuation token; a Manual approval's SNS notification is posted to Slack, and a
signed click answers it with PutApprovalResult (recorded by the local cloud, which answers the calls moto lacks)."""

from __future__ import annotations

import json

import pytest
from tests.support.clicks import click_latest
from tests.support.paths import load_event

from slipway_dev.local.cloud import LocalCloud

pytestmark = pytest.mark.e2e


def test_an_invoke_action_job_starts_the_release_and_answers_with_a_continuation(published_cloud: LocalCloud) -> None:
    cloud = published_cloud
    event = load_event("codepipeline-job.json")
    result = cloud.invoke("CodePipelineJobFunction", event)

    assert result.error is None, result.error
    assert result.payload["result"] == "continuation"
    [answer] = cloud.codepipeline_results
    assert answer["action"] == "PutJobSuccessResult"
    assert answer["jobId"] == event["CodePipeline.job"]["id"]
    assert answer["continuationToken"] == result.payload["execution_arn"]
    assert cloud.describe_execution(result.payload["execution_arn"]) is not None


def test_a_manual_approval_is_posted_to_slack_and_a_click_answers_codepipeline(published_cloud: LocalCloud) -> None:
    cloud = published_cloud
    notification = load_event("sns-codepipeline-approval.json")["Records"][0]["Sns"]
    cloud.client("sns").publish(
        TopicArn=cloud.world.topic_arns["ApprovalTopic"],
        Message=notification["Message"],
        Subject=notification["Subject"],
    )
    status = click_latest(cloud, response_id="codepipeline-approval")

    assert status == 200
    [answer] = [r for r in cloud.codepipeline_results if r["action"] == "PutApprovalResult"]
    approval = json.loads(notification["Message"])["approval"]
    assert (answer["pipelineName"], answer["stageName"], answer["actionName"], answer["token"]) == (
        approval["pipelineName"],
        approval["stageName"],
        approval["actionName"],
        approval["token"],
    )
    assert answer["result"]["status"] == "Approved"
    assert "U0APPROVER1" in answer["result"]["summary"]
