"""Which IAM action, on which resource ARN, each AWS call slipway's functions make needs, the way the AWS Service
Authorization Reference defines them: the API operation's own action, the resource type it authorizes on (``*``
where the action supports no resource-level permission, so only ``Resource: "*"`` can allow it), and the actions
a call implies beyond its own (``iam:PassRole`` for the roles a task definition names, ``ecs:TagResource`` for tags
on create, one action per item of a DynamoDB transaction).

An operation missing here is an error: the check never guesses what an unknown call needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    """One authorization IAM makes for a call: action, resource, and the condition keys the call sets."""

    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Where:
    region: str
    account: str
    state_machine_arn: str  # the stack's release state machine: task tokens belong to its executions


class UnknownOperation(KeyError):
    """The check does not know what IAM authorizes for an operation; add it to ``OPERATIONS``."""


Builder = Callable[[dict[str, Any], Where], list[Request]]


def _arn(service: str, where: Where, resource: str, *, region: bool = True, account: bool = True) -> str:
    return f"arn:aws:{service}:{where.region if region else ''}:{where.account if account else ''}:{resource}"


# ---------------------------------------------------------------------------------------------- DynamoDB
def _table(name: str, where: Where) -> str:
    if name.startswith("arn:"):
        return name
    return _arn("dynamodb", where, f"table/{name}")


def _dynamodb(action: str) -> Builder:
    def build(params: dict[str, Any], where: Where) -> list[Request]:
        table = _table(str(params["TableName"]), where)
        if params.get("IndexName"):
            table = f"{table}/index/{params['IndexName']}"
        return [Request(f"dynamodb:{action}", table)]

    return build


TRANSACTION_ACTIONS = {
    "ConditionCheck": "ConditionCheckItem",
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
}


def _transact_write(params: dict[str, Any], where: Where) -> list[Request]:
    requests = []
    for item in params["TransactItems"]:
        ((kind, body),) = item.items()
        requests.append(Request(f"dynamodb:{TRANSACTION_ACTIONS[kind]}", _table(str(body["TableName"]), where)))
    return requests


def _batch_write(params: dict[str, Any], where: Where) -> list[Request]:
    return [Request("dynamodb:BatchWriteItem", _table(name, where)) for name in params["RequestItems"]]


# ---------------------------------------------------------------------------------------------- Step Functions
def _state_machine(params: dict[str, Any], where: Where) -> str:
    return str(params["stateMachineArn"])


def _task_token(action: str) -> Builder:
    # A task token carries no ARN in the request: IAM authorizes it on the state machine that issued it.
    return lambda params, where: [Request(f"states:{action}", where.state_machine_arn)]


# ---------------------------------------------------------------------------------------------- ECS
def _ecs_service_arns(params: dict[str, Any], where: Where) -> list[str]:
    cluster = str(params.get("cluster") or "default").rsplit("/", 1)[-1]
    names = params.get("services") or [params.get("service")]
    return [s if str(s).startswith("arn:") else _arn("ecs", where, f"service/{cluster}/{s}") for s in names if s]


def _describe_services(params: dict[str, Any], where: Where) -> list[Request]:
    return [Request("ecs:DescribeServices", arn) for arn in _ecs_service_arns(params, where)]


def _register_task_definition(params: dict[str, Any], where: Where) -> list[Request]:
    requests = [Request("ecs:RegisterTaskDefinition", "*")]
    if params.get("tags"):
        family = params["family"]
        requests.append(
            Request(
                "ecs:TagResource",
                _arn("ecs", where, f"task-definition/{family}:*"),
                {"ecs:CreateAction": "RegisterTaskDefinition"},
            )
        )
    for key in ("taskRoleArn", "executionRoleArn"):
        if params.get(key):
            requests.append(
                Request("iam:PassRole", str(params[key]), {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
            )
    return requests


def _update_service(params: dict[str, Any], where: Where) -> list[Request]:
    return [Request("ecs:UpdateService", arn) for arn in _ecs_service_arns(params, where)]


def _service_deployments(action: str) -> Builder:
    def build(params: dict[str, Any], where: Where) -> list[Request]:
        arns = params.get("serviceDeploymentArns") or [params.get("serviceDeploymentArn")]
        return [Request(f"ecs:{action}", str(arn)) for arn in arns if arn]

    return build


# ---------------------------------------------------------------------------------------------- ECR
def _repository(action: str) -> Builder:
    def build(params: dict[str, Any], where: Where) -> list[Request]:
        account = str(params.get("registryId") or where.account)
        return [Request(f"ecr:{action}", f"arn:aws:ecr:{where.region}:{account}:repository/{params['repositoryName']}")]

    return build


# ---------------------------------------------------------------------------------------------- CodeDeploy
def _deployment_group(action: str) -> Builder:
    def build(params: dict[str, Any], where: Where) -> list[Request]:
        if "applicationName" in params and "deploymentGroupName" in params:
            group = f"{params['applicationName']}/{params['deploymentGroupName']}"
        else:  # by deployment id: IAM authorizes on its (unknown to the request) deployment group
            group = "<application>/<deployment group of the deployment>"
        return [Request(f"codedeploy:{action}", _arn("codedeploy", where, f"deploymentgroup:{group}"))]

    return build


# ---------------------------------------------------------------------------------------------- CodePipeline, S3, ...
def _approval_action(params: dict[str, Any], where: Where) -> list[Request]:
    path = f"{params['pipelineName']}/{params['stageName']}/{params['actionName']}"
    return [Request("codepipeline:PutApprovalResult", _arn("codepipeline", where, path))]


def _s3_object(action: str) -> Builder:
    return lambda params, where: [Request(f"s3:{action}", f"arn:aws:s3:::{params['Bucket']}/{params['Key']}")]


def _s3_bucket(action: str) -> Builder:
    return lambda params, where: [Request(f"s3:{action}", f"arn:aws:s3:::{params['Bucket']}")]


def _secret(params: dict[str, Any], where: Where) -> list[Request]:
    secret = str(params["SecretId"])
    arn = secret if secret.startswith("arn:") else _arn("secretsmanager", where, f"secret:{secret}")
    return [Request("secretsmanager:GetSecretValue", arn)]


def _queue(action: str) -> Builder:
    def build(params: dict[str, Any], where: Where) -> list[Request]:
        name = str(params.get("QueueName") or str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1])
        return [Request(f"sqs:{action}", _arn("sqs", where, name))]

    return build


def _fixed(action: str, resource: Callable[[dict[str, Any], Where], str] | str) -> Builder:
    def build(params: dict[str, Any], where: Where) -> list[Request]:
        return [Request(action, resource(params, where) if callable(resource) else resource)]

    return build


OPERATIONS: dict[tuple[str, str], Builder] = {
    # DynamoDB
    ("dynamodb", "GetItem"): _dynamodb("GetItem"),
    ("dynamodb", "PutItem"): _dynamodb("PutItem"),
    ("dynamodb", "UpdateItem"): _dynamodb("UpdateItem"),
    ("dynamodb", "DeleteItem"): _dynamodb("DeleteItem"),
    ("dynamodb", "Query"): _dynamodb("Query"),
    ("dynamodb", "Scan"): _dynamodb("Scan"),
    ("dynamodb", "TransactWriteItems"): _transact_write,
    ("dynamodb", "BatchWriteItem"): _batch_write,
    # Step Functions
    ("stepfunctions", "StartExecution"): _fixed("states:StartExecution", _state_machine),
    ("stepfunctions", "DescribeExecution"): _fixed("states:DescribeExecution", lambda p, w: str(p["executionArn"])),
    ("stepfunctions", "StopExecution"): _fixed("states:StopExecution", lambda p, w: str(p["executionArn"])),
    ("stepfunctions", "SendTaskSuccess"): _task_token("SendTaskSuccess"),
    ("stepfunctions", "SendTaskFailure"): _task_token("SendTaskFailure"),
    ("stepfunctions", "SendTaskHeartbeat"): _task_token("SendTaskHeartbeat"),
    # ECS
    ("ecs", "DescribeServices"): _describe_services,
    ("ecs", "DescribeTaskDefinition"): _fixed("ecs:DescribeTaskDefinition", "*"),
    ("ecs", "ListTaskDefinitions"): _fixed("ecs:ListTaskDefinitions", "*"),
    ("ecs", "RegisterTaskDefinition"): _register_task_definition,
    ("ecs", "UpdateService"): _update_service,
    ("ecs", "DescribeServiceDeployments"): _service_deployments("DescribeServiceDeployments"),
    ("ecs", "ContinueServiceDeployment"): _service_deployments("ContinueServiceDeployment"),
    ("ecs", "ListTagsForResource"): _fixed("ecs:ListTagsForResource", lambda p, w: str(p["resourceArn"])),
    # ECR
    ("ecr", "DescribeImages"): _repository("DescribeImages"),
    ("ecr", "BatchGetImage"): _repository("BatchGetImage"),
    ("ecr", "GetDownloadUrlForLayer"): _repository("GetDownloadUrlForLayer"),
    ("ecr", "DescribeImageScanFindings"): _repository("DescribeImageScanFindings"),
    # CodeDeploy
    ("codedeploy", "CreateDeployment"): _deployment_group("CreateDeployment"),
    ("codedeploy", "GetDeployment"): _deployment_group("GetDeployment"),
    ("codedeploy", "ListDeployments"): _deployment_group("ListDeployments"),
    ("codedeploy", "BatchGetDeployments"): _deployment_group("BatchGetDeployments"),
    ("codedeploy", "ContinueDeployment"): _deployment_group("ContinueDeployment"),
    ("codedeploy", "StopDeployment"): _deployment_group("StopDeployment"),
    # CodePipeline: the job actions support no resource-level permission
    ("codepipeline", "PutJobSuccessResult"): _fixed("codepipeline:PutJobSuccessResult", "*"),
    ("codepipeline", "PutJobFailureResult"): _fixed("codepipeline:PutJobFailureResult", "*"),
    ("codepipeline", "GetJobDetails"): _fixed("codepipeline:GetJobDetails", "*"),
    ("codepipeline", "PutApprovalResult"): _approval_action,
    # S3 (ListObjects* is authorized as s3:ListBucket, HeadObject as s3:GetObject)
    ("s3", "GetObject"): _s3_object("GetObject"),
    ("s3", "HeadObject"): _s3_object("GetObject"),
    ("s3", "ListObjectsV2"): _s3_bucket("ListBucket"),
    ("s3", "ListObjects"): _s3_bucket("ListBucket"),
    # STS: an environment's deploy role (docs/accounts.md)
    ("sts", "AssumeRole"): _fixed("sts:AssumeRole", lambda p, w: str(p["RoleArn"])),
    # Secrets Manager, SQS
    ("secretsmanager", "GetSecretValue"): _secret,
    ("sqs", "SendMessage"): _queue("SendMessage"),
    ("sqs", "GetQueueUrl"): _queue("GetQueueUrl"),
}


def requests_for(service: str, operation: str, params: dict[str, Any], where: Where) -> list[Request]:
    try:
        build = OPERATIONS[(service, operation)]
    except KeyError:
        raise UnknownOperation(
            f"{service}.{operation}: the IAM check does not know which action and resource it needs; add it to "
            "slipway_dev/iam/actions.py (from the AWS Service Authorization Reference)"
        ) from None
    return build(params, where)
