"""Stand-in: completes the parked deployment token from CodeDeploy's state-change event."""

import json
import os

import boto3


def lambda_handler(event, context):
    detail = event["detail"]
    item = boto3.client("dynamodb").get_item(
        TableName=os.environ["SLIPWAY_STATE_TABLE"],
        Key={"pk": {"S": f"DEPLOYMENT#{detail['deploymentId']}"}, "sk": {"S": "TOKEN"}},
    )["Item"]
    sfn = boto3.client("stepfunctions")
    if detail["state"] == "SUCCESS":
        sfn.send_task_success(
            taskToken=item["token"]["S"], output=json.dumps({"deployment_id": detail["deploymentId"]})
        )
    else:
        sfn.send_task_failure(taskToken=item["token"]["S"], error="DeploymentFailed", cause=detail["state"])
    return {"handled": detail["deploymentId"]}
