"""The IAM check's own parts (policy evaluation, what a call needs, the roles as SAM translates them) and the
rules the roles must keep: an append-only audit trail, no "*" AWS does not require, approvals scoped to the
pipelines the stack serves. The check itself runs at the end of every pytest session (tests/support/iam.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway_dev.iam.actions import UnknownOperation, Where, requests_for
from slipway_dev.iam.check import judge
from slipway_dev.iam.policy import Statement, allowed, matches
from slipway_dev.iam.recorder import Call, Stack, acting_as, acting_function
from slipway_dev.iam.roles import function_roles, translated_template
from slipway_dev.stack import stack_resolver
from slipway_dev.template import TEMPLATE_PATH, load_template

REGION, ACCOUNT = "eu-west-2", "123456789012"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:slipway/prod/slack-AbCdEf"
# Actions whose only resource is "*" (AWS Service Authorization Reference: no resource-level permission).
STAR_ONLY = {
    "ecs:DescribeTaskDefinition",
    "ecs:RegisterTaskDefinition",
    "codepipeline:PutJobSuccessResult",
    "codepipeline:PutJobFailureResult",
}


def resolver(template: dict | None = None, **parameters: object):  # type: ignore[no-untyped-def,type-arg]
    return stack_resolver(
        template or load_template(),
        region=REGION,
        account=ACCOUNT,
        prefix="slipway-prod",
        parameters={
            "EnvironmentName": "prod",
            "SlackSecretArn": SECRET,
            "ConfigLocation": "s3://acme-slipway-config/prod",
            "RepositoryNames": ["app-images"],
            "TaskRoleArns": [f"arn:aws:iam::{ACCOUNT}:role/app-task"],
            **parameters,
        },
    )


def where() -> Where:
    return Where(REGION, ACCOUNT, f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:slipway-release-prod")


# ---------------------------------------------------------------------------------------------- evaluation
@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/config/pipelines/a.yaml", True),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket", False),
        ("arn:aws:s3:::bucket", "arn:aws:s3:::bucket-other", False),
        ("arn:aws:ecs:*:*:service/*", "arn:aws:ecs:eu-west-2:1:service/c/s", True),
        ("arn:aws:codepipeline:r:a:app?/*", "arn:aws:codepipeline:r:a:app1/stage/action", True),
        ("arn:aws:ecs:r:a:task-definition/*", "*", False),  # an action without resource-level permission
        ("*", "*", True),
        ("bucket[1]", "bucket[1]", True),  # brackets are literal in IAM
    ],
)
def test_iam_wildcards(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


def test_an_explicit_deny_wins_and_conditions_must_hold() -> None:
    pass_role = Statement.parse(
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": "arn:aws:iam::1:role/app-*",
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        },
        "test",
    )
    deny = Statement.parse({"Effect": "Deny", "Action": "iam:*", "Resource": "arn:aws:iam::1:role/app-admin"}, "t")
    to_ecs = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    assert allowed([pass_role], "iam:PassRole", "arn:aws:iam::1:role/app-task", to_ecs) is pass_role
    assert allowed([pass_role], "iam:PassRole", "arn:aws:iam::1:role/app-task", {}) is None
    assert allowed([pass_role], "iam:PassRole", "arn:aws:iam::1:role/app-task", {"iam:PassedToService": "x"}) is None
    assert allowed([pass_role, deny], "iam:PassRole", "arn:aws:iam::1:role/app-admin", to_ecs) is None


def test_what_a_call_needs_beyond_its_own_action() -> None:
    registered = requests_for(
        "ecs",
        "RegisterTaskDefinition",
        {"family": "app", "taskRoleArn": "arn:aws:iam::1:role/t", "tags": [{"key": "k", "value": "v"}]},
        where(),
    )
    assert [(r.action, r.resource) for r in registered] == [
        ("ecs:RegisterTaskDefinition", "*"),
        ("ecs:TagResource", f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/app:*"),
        ("iam:PassRole", "arn:aws:iam::1:role/t"),
    ]
    transaction = requests_for(
        "dynamodb",
        "TransactWriteItems",
        {"TransactItems": [{"ConditionCheck": {"TableName": "state"}}, {"Update": {"TableName": "state"}}]},
        where(),
    )
    assert [r.action for r in transaction] == ["dynamodb:ConditionCheckItem", "dynamodb:UpdateItem"]
    [token] = requests_for("stepfunctions", "SendTaskSuccess", {"taskToken": "t", "output": "{}"}, where())
    assert token.resource == where().state_machine_arn
    with pytest.raises(UnknownOperation, match=r"ecs\.DeleteService"):
        requests_for("ecs", "DeleteService", {}, where())


# ---------------------------------------------------------------------------------------------- the roles
def test_every_function_has_a_role_and_none_may_delete_scan_or_batch_write_the_audit_trail() -> None:
    roles = function_roles(resolver())
    assert len(roles) == 9
    audit_table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/slipway-prod-AuditTable"
    for role in roles.values():
        for forbidden in ("dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:PartiQLDelete"):
            assert allowed(list(role.statements), forbidden, audit_table, {}) is None, (role.function, forbidden)


def test_no_star_resource_but_where_aws_requires_it() -> None:
    for role in function_roles(resolver()).values():
        for statement in role.statements:
            if "*" in statement.resources:
                assert set(statement.actions) <= STAR_ONLY, statement.source


def test_codepipeline_approvals_are_answered_only_for_the_pipelines_the_stack_serves() -> None:
    pipelines = [f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{name}" for name in ("web-release", "api-release")]
    roles = function_roles(resolver(ApprovalPipelineArns=pipelines))
    callback = list(roles["SlackInteractionsFunction"].statements)
    action = "codepipeline:PutApprovalResult"
    ours = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:api-release/Approve/Approve"
    other = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:someone-elses/Approve/Approve"
    assert allowed(callback, action, ours, {}) is not None
    assert allowed(callback, action, other, {}) is None
    none = list(function_roles(resolver(ApprovalPipelineArns=[""]))["SlackInteractionsFunction"].statements)
    assert allowed(none, action, ours, {}) is None


def test_customer_managed_keys_decrypt_only_through_s3_and_secrets_manager() -> None:
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    via = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    for role in function_roles(resolver(KmsKeyArns=[key])).values():
        statements = list(role.statements)
        assert allowed(statements, "kms:Decrypt", key, via) is not None, role.function
        assert allowed(statements, "kms:Decrypt", key, {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}) is None
        assert allowed(statements, "kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/other", via) is None
    for role in function_roles(resolver()).values():  # the default: AWS-managed keys, no KMS grant at all
        assert not any(action.startswith("kms:") for s in role.statements for action in s.actions), role.function


def test_the_translation_is_what_cloudformation_receives() -> None:
    translated = translated_template()
    assert "Transform" not in translated
    kinds = {r["Type"] for r in translated["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::IAM::Role", "AWS::Events::Rule", "AWS::SQS::QueuePolicy"} <= kinds


# ---------------------------------------------------------------------------------------------- the check
def test_a_removed_grant_is_a_denial_naming_function_action_and_resource(tmp_path: Path) -> None:
    """What `make test` does when a role loses a grant its function's calls need (here: reading the config)."""
    text = TEMPLATE_PATH.read_text()
    start = text.index("  StartDeploymentFunction:")
    section = text[start : text.index("  DeploymentEventsFunction:")]
    broken = text.replace(section, section.replace("            - *ReadConfig\n", "", 1))
    path = tmp_path / "template.yaml"
    path.write_text(broken)
    (tmp_path / "statemachine").symlink_to(TEMPLATE_PATH.parent / "statemachine")
    stack = Stack("prod", resolver(load_template(path)), where().state_machine_arn)
    call = Call(
        function="StartDeploymentFunction",
        service="s3",
        operation="GetObject",
        params={"Bucket": "acme-slipway-config", "Key": "prod/pipelines/web-app.yaml"},
        region=REGION,
        stack="prod",
    )
    verdict = judge([call], {"prod": stack}, template=path)
    [denial] = verdict.denials
    assert (denial.function, denial.action, denial.resource) == (
        "StartDeploymentFunction",
        "s3:GetObject",
        "arn:aws:s3:::acme-slipway-config/prod/pipelines/web-app.yaml",
    )
    assert "StartDeploymentFunction: s3:GetObject on arn:aws:s3:::acme-slipway-config" in str(denial)
    intact = judge([call], {"prod": Stack("prod", resolver(), where().state_machine_arn)})
    assert intact.denials == []


def test_the_acting_function_is_known_inside_its_block_only() -> None:
    """What the bench's meters read to count a function's calls (bench/cost.py), as the recorder does."""
    assert acting_function() is None
    with acting_as("EcrPushFunction"):
        assert acting_function() == "EcrPushFunction"
        with acting_as("PrepareEnvironmentFunction"):
            assert acting_function() == "PrepareEnvironmentFunction"
        assert acting_function() == "EcrPushFunction"
    assert acting_function() is None
