"""The local cloud's event builders: the sample events of events/*.json with one occurrence's fields filled in."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from slipway.domain.approval.decide import Click, parse_block_actions
from slipway_dev.local.base import ACCOUNT, LocalCloudError
from slipway_dev.local.events import (
    codedeploy_state_change_event,
    ecr_push_event,
    http_api_event,
    put_event,
    sample_event,
    sns_event,
)
from slipway_dev.local.interaction import block_actions_payload, find_button, sample_block_actions, signed_request
from tests.support.paths import load_event


def shape(value: Any) -> Any:
    """The keys of every object, recursively (lists by their first item): what a builder must keep."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def test_the_ecr_push_event_is_the_sample_with_this_pushs_fields() -> None:
    sample = load_event("ecr-push.json")
    event = ecr_push_event("my-images", "sha256:" + "1" * 64, "v1", region="eu-west-1")
    assert shape(event) == shape(sample)
    assert event["detail"] == {
        **sample["detail"],
        "repository-name": "my-images",
        "image-digest": "sha256:" + "1" * 64,
        "image-tag": "v1",
    }
    assert (event["region"], event["account"]) == ("eu-west-1", ACCOUNT)
    assert event["id"] != sample["id"]
    assert event["id"] != ecr_push_event("my-images", "sha256:" + "1" * 64, "v1")["id"]
    assert event["time"] != sample["time"]


def test_the_http_api_event_is_the_slack_sample_with_this_requests_fields() -> None:
    sample = load_event("slack-block-actions.json")
    body = b"payload=%7B%7D"
    headers = {"content-type": "application/x-www-form-urlencoded", "user-agent": "test"}
    event = http_api_event(
        method="POST", path="/hooks", query="a=1", headers=headers, body=body, route_key="POST /hooks", api_id="abc"
    )
    assert set(event) == set(sample)
    assert shape(event["requestContext"]) == shape(sample["requestContext"])
    assert event["headers"] == headers  # the request's, not the sample's
    assert (event["routeKey"], event["rawPath"], event["rawQueryString"]) == ("POST /hooks", "/hooks", "a=1")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body
    context = event["requestContext"]
    assert context["accountId"] == ACCOUNT != sample["requestContext"]["accountId"]
    assert (context["apiId"], context["domainPrefix"]) == ("abc", "abc")
    assert context["domainName"].startswith("abc.execute-api.")
    assert context["http"] == {
        **sample["requestContext"]["http"],
        "method": "POST",
        "path": "/hooks",
        "sourceIp": "127.0.0.1",
        "userAgent": "test",
    }
    assert context["requestId"] != sample["requestContext"]["requestId"]

    text = http_api_event(
        method="GET",
        path="/",
        query="",
        headers={"content-type": "application/json"},
        body=b"{}",
        route_key="GET /",
        api_id="abc",
    )
    assert (text["body"], text["isBase64Encoded"]) == ("{}", False)
    assert text["requestContext"]["http"]["userAgent"] == ""


def test_the_sns_event_is_the_sample_with_this_messages_fields() -> None:
    sample = load_event("sns-codepipeline-approval.json")
    topic = "arn:aws:sns:eu-west-2:123456789012:slipway-dev-ApprovalTopic"
    event = sns_event(topic, '{"approval": {}}', "APPROVAL NEEDED")
    assert shape(event) == shape(sample)
    record = event["Records"][0]
    assert record["EventSubscriptionArn"].startswith(topic + ":")
    assert record["Sns"]["UnsubscribeUrl"].endswith(record["EventSubscriptionArn"])
    assert (record["Sns"]["TopicArn"], record["Sns"]["Message"], record["Sns"]["Subject"]) == (
        topic,
        '{"approval": {}}',
        "APPROVAL NEEDED",
    )
    assert record["Sns"]["MessageId"] != sample["Records"][0]["Sns"]["MessageId"]
    assert sns_event(topic, "m", None)["Records"][0]["Sns"]["Subject"] is None


def test_the_codedeploy_event_is_the_documented_state_change() -> None:
    sample = load_event("codedeploy-deployment-failure.json")
    event = codedeploy_state_change_event(
        application="app", deployment_group="group", deployment_id="d-1", instance_group_id="ig", state="FAILURE"
    )
    assert shape(event) == shape(sample)
    assert event["detail"] == {
        "region": "eu-west-2",
        "deploymentId": "d-1",
        "instanceGroupId": "ig",
        "deploymentGroup": "group",
        "state": "FAILURE",
        "application": "app",
    }
    assert event["resources"] == [
        f"arn:aws:codedeploy:eu-west-2:{ACCOUNT}:application:app",
        f"arn:aws:codedeploy:eu-west-2:{ACCOUNT}:deploymentgroup:app/group",
    ]
    assert (event["source"], event["detail-type"]) == (sample["source"], sample["detail-type"])


def test_a_sample_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(LocalCloudError, match="expected a JSON object"):
        sample_event("list.json", tmp_path)


class _Events:
    def __init__(self, failed: int) -> None:
        self.failed = failed
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"FailedEntryCount": self.failed, "Entries": [{"ErrorCode": "x"}] if self.failed else [{}]}


def test_put_event_sends_what_aws_events_put_events_sends() -> None:
    event = load_event("codedeploy-deployment-success.json")
    client = _Events(failed=0)
    put_event(client, event)
    assert client.entries == [
        {
            "Source": "aws.codedeploy",
            "DetailType": "CodeDeploy Deployment State-change Notification",
            "Detail": json.dumps(event["detail"]),
            "Resources": event["resources"],
        }
    ]
    with pytest.raises(LocalCloudError, match="refused"):
        put_event(_Events(failed=1), event)


def test_a_click_is_the_sample_block_actions_payload_with_this_buttons_fields() -> None:
    sample = sample_block_actions()
    assert sample["type"] == "block_actions"
    element = {"type": "button", "action_id": "slipway_approve", "value": "a1", "style": "primary", "text": {}}
    message = {"channel": "C9", "ts": "17.1", "text": "t", "blocks": [{"block_id": "b1", "elements": [element]}]}
    payload = block_actions_payload(find_button([message], "a1", "approve"), "U7", "http://hooks/r")
    assert set(payload) == set(sample)
    assert {key: set(payload[key]) for key in ("user", "team", "container", "channel")} == {
        key: set(sample[key]) for key in ("user", "team", "container", "channel")
    }
    assert set(payload["actions"][0]) == set(sample["actions"][0])
    assert payload["message"] == {**sample["message"], "ts": "17.1", "text": "t", "blocks": message["blocks"]}
    assert (payload["user"]["id"], payload["team"]["id"], payload["channel"]["id"]) == ("U7", "T0LOCAL", "C9")
    body, _ = signed_request(payload, "secret")
    assert parse_block_actions(body) == Click(
        approval_id="a1",
        action="slipway_approve",
        user="U7",
        response_url="http://hooks/r",
        team_id="T0LOCAL",
        app_id="A0LOCAL",
    )
