"""Stand-in: checks the signature, then completes the approval's task token."""

import base64
import hashlib
import hmac
import json
import os
from urllib.parse import parse_qs

import boto3


def lambda_handler(event, context):
    body = event["body"]
    raw = base64.b64decode(body).decode() if event.get("isBase64Encoded") else body
    headers = event["headers"]
    secret = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["SLIPWAY_SLACK_SECRET_ARN"])["SecretString"]
    )["signing_secret"]
    base = f"v0:{headers['x-slack-request-timestamp']}:{raw}".encode()
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers.get("x-slack-signature", "")):
        return {"statusCode": 401, "body": "bad signature"}
    payload = json.loads(parse_qs(raw)["payload"][0])
    action = payload["actions"][0]
    item = boto3.client("dynamodb").get_item(
        TableName=os.environ["SLIPWAY_STATE_TABLE"],
        Key={"pk": {"S": f"APPROVAL#{action['value']}"}, "sk": {"S": "APPROVAL"}},
    )["Item"]
    sfn = boto3.client("stepfunctions")
    if action["action_id"] == "approve":
        sfn.send_task_success(taskToken=item["token"]["S"], output=json.dumps({"approved_by": [payload["user"]["id"]]}))
    else:
        sfn.send_task_failure(
            taskToken=item["token"]["S"], error="Rejected", cause=f"Rejected by {payload['user']['id']}"
        )
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps({"ok": True})}
