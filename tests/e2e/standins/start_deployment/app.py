"""Stand-in: creates the CodeDeploy deployment and parks the task token under it."""

import os

import boto3


def lambda_handler(event, context):
    plan = event["plan"]
    deployment_id = boto3.client("codedeploy").create_deployment(
        applicationName=plan["application"],
        deploymentGroupName=plan["deployment_group"],
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "version: 0.0"}},
    )["deploymentId"]
    boto3.client("dynamodb").put_item(
        TableName=os.environ["SLIPWAY_STATE_TABLE"],
        Item={"pk": {"S": f"DEPLOYMENT#{deployment_id}"}, "sk": {"S": "TOKEN"}, "token": {"S": event["task_token"]}},
    )
    return {"deployment_id": deployment_id}
