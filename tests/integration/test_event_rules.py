"""The EventBridge rule patterns of template.yaml, put on a moto event bus with an SQS target.

moto delivers matches to SQS (not to Step Functions or Lambda), so each rule gets a queue and the sample events
are sent with put_events: what reaches the queue is what the rule matches.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from tests.support.paths import load_event

from slipway_dev.stack import stack_resolver
from slipway_dev.template import functions, load_template

pytestmark = pytest.mark.integration


# The parameters a first deploy must give (no defaults); the rest keep the template's defaults.
STACK_PARAMETERS = {
    "SlackSecretArn": "arn:aws:secretsmanager:eu-west-2:123456789012:secret:slipway/slack-AbCdEf",
    "ConfigLocation": "s3://slipway-config/config",
    "RepositoryNames": ["app-images"],
    "TaskRoleArns": ["arn:aws:iam::123456789012:role/app-task"],
}


def rule_pattern(function: str, event: str) -> dict[str, Any]:
    template = load_template()
    props = functions(template)[function]["Events"][event]
    assert props["Type"] == "EventBridgeRule"
    resolver = stack_resolver(
        template, region="eu-west-2", account="123456789012", prefix="slipway-dev", parameters=STACK_PARAMETERS
    )
    pattern: dict[str, Any] = resolver.resolve(props["Properties"]["Pattern"])
    return pattern


class Bus:
    def __init__(self) -> None:
        self.events = boto3.client("events")
        self.sqs = boto3.client("sqs")

    def rule_to_queue(self, name: str, pattern: dict[str, Any]) -> str:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
        self.events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
        return url

    def matches(self, url: str, event: dict[str, Any]) -> bool:
        """Send one event as AWS would emit it; True if the rule delivered it to its queue."""
        response = self.events.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                    "Resources": event["resources"],
                }
            ]
        )
        assert response["FailedEntryCount"] == 0
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if messages:
            delivered = json.loads(messages[0]["Body"])
            assert delivered["detail"] == event["detail"]
        return bool(messages)


@pytest.fixture
def bus() -> Iterator[Bus]:
    with mock_aws():
        yield Bus()


def ecr(**detail: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("ecr-push.json"))
    event["detail"].update(detail)
    return event


def test_ecr_push_rule_matches_successful_pushes_to_configured_repositories(bus: Bus) -> None:
    pattern = rule_pattern("EcrPushFunction", "EcrPush")
    assert pattern["detail"]["repository-name"] == ["app-images"]  # the RepositoryNames given
    url = bus.rule_to_queue("ecr-push", pattern)

    assert bus.matches(url, load_event("ecr-push.json"))
    assert bus.matches(url, load_event("ecr-push-latest-tag.json"))
    assert not bus.matches(url, load_event("ecr-push-unknown-repo.json"))
    assert not bus.matches(url, ecr(**{"action-type": "DELETE"}))
    assert not bus.matches(url, ecr(result="FAILURE"))
    scan = ecr()
    scan["detail-type"] = "ECR Image Scan"
    assert not bus.matches(url, scan)


def codedeploy(state: str) -> dict[str, Any]:
    """The documented `CodeDeploy Deployment State-change Notification` shape."""
    return {
        "version": "0",
        "id": "c071bfbf-83c4-49ca-a6ff-3df053957145",
        "detail-type": "CodeDeploy Deployment State-change Notification",
        "source": "aws.codedeploy",
        "account": "123456789012",
        "time": "2025-03-01T10:30:31Z",
        "region": "eu-west-2",
        "resources": [
            "arn:aws:codedeploy:eu-west-2:123456789012:application:codedeploy-app",
            "arn:aws:codedeploy:eu-west-2:123456789012:deploymentgroup:codedeploy-app/codedeploy-deployment-group-staging",
        ],
        "detail": {
            "region": "eu-west-2",
            "deploymentId": "d-ABCDEF123",
            "instanceGroupId": "9fd2fbef-2157-40d8-91e7-6845af69e2d2",
            "deploymentGroup": "codedeploy-deployment-group-staging",
            "state": state,
            "application": "codedeploy-app",
        },
    }


@pytest.mark.parametrize(
    ("state", "delivered"),
    [
        ("SUCCESS", True),
        ("FAILURE", True),
        ("STOP", True),
        ("START", False),
        ("READY", False),
        ("RESUME", False),
    ],
)
def test_codedeploy_rule_matches_final_states_only(bus: Bus, state: str, delivered: bool) -> None:
    url = bus.rule_to_queue("codedeploy", rule_pattern("DeploymentEventsFunction", "DeploymentStateChange"))
    assert bus.matches(url, codedeploy(state)) is delivered


def put_image_call(**changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event("cloudtrail-ecr-putimage.json"))
    for key, value in changes.items():
        event["detail"][key] = value
    return event


def test_put_image_trail_rule_matches_cloudtrails_put_image_on_configured_repositories(bus: Bus) -> None:
    pattern = rule_pattern("EcrPushFunction", "EcrPutImageTrail")
    assert pattern["detail"]["requestParameters"]["repositoryName"] == ["app-images"]
    url = bus.rule_to_queue("put-image", pattern)

    assert bus.matches(url, load_event("cloudtrail-ecr-putimage.json"))
    other_repository = put_image_call()
    other_repository["detail"]["requestParameters"]["repositoryName"] = "someone-elses"
    assert not bus.matches(url, other_repository)
    assert not bus.matches(url, put_image_call(eventName="BatchDeleteImage"))
    assert not bus.matches(url, put_image_call(eventSource="ecs.amazonaws.com"))
    assert not bus.matches(url, load_event("ecr-push.json"))
