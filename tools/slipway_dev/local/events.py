"""Event builders: each event the local cloud delivers starts from its sample in ``events/*.json`` (the shape AWS or
Slack documents, the same files ``sam local invoke -e`` and the tests use) with one occurrence's fields filled in.
The shapes live in those files, not here; ``put_event`` sends one through EventBridge as ``aws events put-events``
would."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slipway_dev.local.base import ACCOUNT, REGION, LocalCloudError, utcnow_iso
from slipway_dev.template import PROJECT_ROOT

EVENTS_DIR = PROJECT_ROOT / "events"
ECR_PUSH_SAMPLE = "ecr-push.json"
PUT_IMAGE_SAMPLE = "cloudtrail-ecr-putimage.json"
HTTP_API_SAMPLE = "slack-block-actions.json"  # an HTTP API (payload format 2.0) event of the Slack route
SNS_SAMPLE = "sns-codepipeline-approval.json"
CODEDEPLOY_SAMPLE = "codedeploy-deployment-success.json"
ECS_DEPLOYMENT_SAMPLE = "ecs-deployment-failed.json"
ECS_HOOK_SAMPLE = "ecs-hook-awaiting-action.json"
TEXT_TYPES = ("application/json", "application/xml", "application/javascript")


def sample_event(name: str, events_dir: Path = EVENTS_DIR) -> dict[str, Any]:
    """A fresh copy of ``events/<name>``."""
    data = json.loads((events_dir / name).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise LocalCloudError(f"{events_dir / name}: expected a JSON object")
    return data


def ecr_push_event(repository: str, digest: str, tag: str, region: str = REGION) -> dict[str, Any]:
    """The EventBridge event ECR emits for a successful push (``events/ecr-push.json``, this push's fields)."""
    event = sample_event(ECR_PUSH_SAMPLE)
    event.update(id=str(uuid.uuid4()), account=ACCOUNT, time=utcnow_iso(), region=region)
    event["detail"].update({"repository-name": repository, "image-digest": digest, "image-tag": tag})
    return event


def ecr_put_image_call_event(
    repository: str, digest: str, tag: str | None, principal: str, region: str = REGION
) -> dict[str, Any]:
    """CloudTrail's PutImage record as EventBridge delivers it (``events/cloudtrail-ecr-putimage.json``): who pushed."""
    event = sample_event(PUT_IMAGE_SAMPLE)
    event.update(id=str(uuid.uuid4()), account=ACCOUNT, time=utcnow_iso(), region=region)
    detail = event["detail"]
    session = principal.rsplit("/", 1)[-1]
    detail["userIdentity"].update(arn=principal, principalId=f"AROALOCALPUSHER00001:{session}")
    detail.update(eventTime=event["time"], awsRegion=region, eventID=str(uuid.uuid4()), requestID=str(uuid.uuid4()))
    detail["requestParameters"].update(repositoryName=repository, registryId=ACCOUNT, imageTag=tag)
    detail["responseElements"]["image"].update(repositoryName=repository, registryId=ACCOUNT)
    detail["responseElements"]["image"]["imageId"] = {"imageDigest": digest, "imageTag": tag}
    return event


def http_api_event(
    *, method: str, path: str, query: str, headers: dict[str, str], body: bytes, route_key: str, api_id: str
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as the Lambda integration receives it.

    The skeleton is the Slack route's sample (``events/slack-block-actions.json``); every request field is this
    request's. Like API Gateway, a body whose content type is not text is base64-encoded (Slack's form posts are).
    """
    content_type = headers.get("content-type", "")
    textual = content_type.startswith("text/") or any(kind in content_type for kind in TEXT_TYPES)
    now = datetime.now(UTC)
    event = sample_event(HTTP_API_SAMPLE)
    event.update(
        routeKey=route_key,
        rawPath=path,
        rawQueryString=query,
        headers=headers,
        body=body.decode("utf-8") if textual else base64.b64encode(body).decode("ascii"),
        isBase64Encoded=not textual,
    )
    context = event["requestContext"]
    context.update(
        accountId=ACCOUNT,
        apiId=api_id,
        domainName=f"{api_id}.execute-api.{REGION}.amazonaws.com",
        domainPrefix=api_id,
        requestId=str(uuid.uuid4()),
        routeKey=route_key,
        stage="$default",
        time=now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        timeEpoch=int(now.timestamp() * 1000),
    )
    context["http"].update(
        method=method, path=path, protocol="HTTP/1.1", sourceIp="127.0.0.1", userAgent=headers.get("user-agent", "")
    )
    return event


def sns_event(topic_arn: str, message: str, subject: str | None, region: str = REGION) -> dict[str, Any]:
    """What a function subscribed to ``topic_arn`` gets for one message (``events/sns-codepipeline-approval.json``)."""
    event = sample_event(SNS_SAMPLE)
    record = event["Records"][0]
    subscription_arn = f"{topic_arn}:{uuid.uuid4()}"
    record["EventSubscriptionArn"] = subscription_arn
    record["Sns"].update(
        MessageId=str(uuid.uuid4()),
        TopicArn=topic_arn,
        Subject=subject,
        Message=message,
        Timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        UnsubscribeUrl=f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription_arn}",
        MessageAttributes={},
    )
    return event


def codedeploy_state_change_event(
    *,
    application: str,
    deployment_group: str,
    deployment_id: str,
    instance_group_id: str,
    state: str,
    region: str = REGION,
    account: str = ACCOUNT,
) -> dict[str, Any]:
    """CodeDeploy's "Deployment State-change Notification" (``events/codedeploy-deployment-success.json``)."""
    event = sample_event(CODEDEPLOY_SAMPLE)
    event.update(
        id=str(uuid.uuid4()),
        account=account,
        time=utcnow_iso(),
        region=region,
        resources=[
            f"arn:aws:codedeploy:{region}:{account}:application:{application}",
            f"arn:aws:codedeploy:{region}:{account}:deploymentgroup:{application}/{deployment_group}",
        ],
    )
    event["detail"].update(
        region=region,
        deploymentId=deployment_id,
        instanceGroupId=instance_group_id,
        deploymentGroup=deployment_group,
        state=state,
        application=application,
    )
    return event


def ecs_deployment_state_change_event(
    *,
    service_arn: str,
    deployment_id: str,
    event_name: str,
    event_type: str,
    reason: str,
    region: str = REGION,
    account: str = ACCOUNT,
) -> dict[str, Any]:
    """ECS's "ECS Deployment State Change" of one service (``events/ecs-deployment-failed.json``)."""
    event = sample_event(ECS_DEPLOYMENT_SAMPLE)
    now = utcnow_iso()
    event.update(id=str(uuid.uuid4()), account=account, time=now, region=region, resources=[service_arn])
    event["detail"].update(
        eventType=event_type, eventName=event_name, deploymentId=deployment_id, updatedAt=now, reason=reason
    )
    return event


def ecs_hook_state_change_event(
    *,
    service_arn: str,
    deployment_id: str,
    service_deployment_arn: str,
    hook_id: str,
    lifecycle_stage: str,
    region: str = REGION,
    account: str = ACCOUNT,
) -> dict[str, Any]:
    """ECS's "ECS Hook State Change" for a PAUSE hook reached (``events/ecs-hook-awaiting-action.json``)."""
    event = sample_event(ECS_HOOK_SAMPLE)
    now = utcnow_iso()
    event.update(id=str(uuid.uuid4()), account=account, time=now, region=region, resources=[service_arn])
    event["detail"].update(
        deploymentId=deployment_id,
        serviceDeploymentArn=service_deployment_arn,
        hookId=hook_id,
        lifecycleStage=lifecycle_stage,
        updatedAt=now,
    )
    return event


def put_events_entry(event: dict[str, Any]) -> dict[str, Any]:
    """The PutEvents entry of an event in the shape a target receives (events/*.json): what `aws events put-events`
    sends for it."""
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": event.get("resources", []),
    }


def put_event(events_client: Any, event: dict[str, Any]) -> None:
    """PutEvents for an event in the shape a target receives (events/*.json): what `aws events put-events` sends."""
    response = events_client.put_events(Entries=[put_events_entry(event)])
    if response.get("FailedEntryCount"):
        raise LocalCloudError(f"PutEvents refused the event: {response['Entries']}")
