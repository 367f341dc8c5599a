"""Stand-in: stores the token under an approval id and posts a message with Approve/Reject buttons."""

import json
import os
import uuid

import boto3
from slack_sdk import WebClient


def lambda_handler(event, context):
    approval_id = uuid.uuid4().hex[:12]
    boto3.client("dynamodb").put_item(
        TableName=os.environ["SLIPWAY_STATE_TABLE"],
        Item={"pk": {"S": f"APPROVAL#{approval_id}"}, "sk": {"S": "APPROVAL"}, "token": {"S": event["task_token"]}},
    )
    secret = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["SLIPWAY_SLACK_SECRET_ARN"])["SecretString"]
    )
    client = WebClient(token=secret["bot_token"], base_url=os.environ["SLIPWAY_SLACK_API_URL"])
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"Deploy to *{event['environment']}*?"}},
        {
            "type": "actions",
            "block_id": "decision",
            "elements": [
                {
                    "type": "button",
                    "action_id": "approve",
                    "style": "primary",
                    "value": approval_id,
                    "text": {"type": "plain_text", "text": "Approve"},
                },
                {
                    "type": "button",
                    "action_id": "reject",
                    "style": "danger",
                    "value": approval_id,
                    "text": {"type": "plain_text", "text": "Reject"},
                },
            ],
        },
    ]
    client.chat_postMessage(channel="#deploys-production", text="approval needed", blocks=blocks)
    return {"approval_id": approval_id}
