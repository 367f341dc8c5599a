"""Preflight's decisions without AWS: the stack checks on a stack record, how a check reads, which channels and
approvers Slack is asked about, and how the CLI explains a failure in one line."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from slipway.domain.config import LocalConfigSource, load_config
from slipway.errors import ConfigError
from slipway_dev.cli.errors import CliError, explain
from slipway_dev.preflight import Check
from slipway_dev.preflight.config_bucket import Drift
from slipway_dev.preflight.slack import _approvers, _channels
from slipway_dev.preflight.stack import StackInfo, stack_checks
from slipway_dev.preflight.task_roles import TaskRoles
from tests.support.paths import CONFIG

ROLE = "arn:aws:iam::123456789012:role/ecs-task-role"


def stack(status: str = "UPDATE_COMPLETE", **parameters: str) -> StackInfo:
    values = {"RepositoryNames": "api-images,app-images", "TaskRoleArns": ROLE, **parameters}
    return StackInfo(name="slipway-prod", status=status, parameters=values, outputs={})


def roles(*arns: str) -> TaskRoles:
    return TaskRoles(arns={arn: ["web-app/production taskRoleArn"] for arn in arns})


def test_a_stack_that_covers_the_config_passes() -> None:
    config = load_config(LocalConfigSource(CONFIG))
    checks = stack_checks(stack(), "slipway-prod", config, roles(ROLE))
    assert [c.line() for c in checks] == [
        "✓ stack slipway-prod exists (UPDATE_COMPLETE)",
        "✓ RepositoryNames include api-images (pipeline api)",
        "✓ RepositoryNames include app-images (pipeline web-app)",
        f"✓ TaskRoleArns include {ROLE} (web-app/production taskRoleArn)",
    ]


def test_what_the_stack_lacks_fails_with_the_redeploy_that_fixes_it() -> None:
    config = load_config(LocalConfigSource(CONFIG))
    other = "arn:aws:iam::123456789012:role/other"
    checks = stack_checks(stack("ROLLBACK_COMPLETE", RepositoryNames=""), "slipway-prod", config, roles(ROLE, other))
    failed = [c.line() for c in checks if not c.ok]
    assert failed == [
        "✗ stack slipway-prod is ready: its status is ROLLBACK_COMPLETE: finish or fix its deployment first",
        "✗ RepositoryNames include api-images (pipeline api): the stack listens only to no repository, so pushes "
        "of api-images are dropped by the EventBridge rule: redeploy with RepositoryNames=api-images (sam deploy "
        "--parameter-overrides, or samconfig.toml)",
        "✗ RepositoryNames include app-images (pipeline web-app): the stack listens only to no repository, so pushes "
        "of app-images are dropped by the EventBridge rule: redeploy with RepositoryNames=app-images (sam deploy "
        "--parameter-overrides, or samconfig.toml)",
        f"✗ TaskRoleArns include {other} (web-app/production taskRoleArn): slipway may pass only TaskRoleArns to "
        "ECS, so registering this task definition would be refused (iam:PassRole): redeploy with "
        f"TaskRoleArns={ROLE},{other} (sam deploy --parameter-overrides, or samconfig.toml)",
    ]
    assert (
        stack_checks(None, "slipway-prod", config, roles())[0]
        .line()
        .startswith("✗ stack slipway-prod exists: no such stack in this account and region: deploy it")
    )


def test_check_lines_and_drift() -> None:
    assert Check("x").line() == "✓ x"
    assert Check("x", fix="do y").line() == "✗ x: do y"
    assert Check("x", skipped="why").line() == "- x: not checked: why"
    assert Check("x", skipped="why").ok
    drift = Drift(missing=["a", "b", "c", "d"], stale=["z"])
    assert drift.describe() == "4 missing (a, b, c, …), 1 stale (z)"
    assert Drift().none


def test_slack_is_asked_about_the_channels_and_approvers_that_matter() -> None:
    pipeline = load_config(LocalConfigSource(CONFIG)).pipeline("web-app")
    selected = [(pipeline, env) for env in pipeline.environments]
    assert _channels(selected, [pipeline]) == {
        "#deploys": "release notices of web-app",
        "#deploys-production": "approvals of web-app/production",
    }
    assert _approvers(selected, "users") == {"U0APPROVER1": "web-app/production", "U0APPROVER2": "web-app/production"}
    staging_only = [(pipeline, pipeline.environment("staging"))]
    assert _channels(staging_only, [pipeline]) == {"#deploys": "release notices of web-app"}
    assert _approvers(staging_only, "users") == {}


@pytest.mark.parametrize(
    ("exc", "line", "code"),
    [
        (CliError("pass --pipeline"), "pass --pipeline", 2),
        (
            ConfigError("a.yaml: x: bad\nb.yaml: y: bad"),
            "a.yaml: x: bad (and 1 more problem(s): run `slipway validate`)",
            2,
        ),
        (KeyError("unknown pipeline 'x' (configured: web-app)"), "unknown pipeline 'x' (configured: web-app)", 2),
        (NoRegionError(), "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or region in ~/.aws/config)", 2),
        (NoCredentialsError(), "no AWS credentials: set AWS_PROFILE", 2),
        (EndpointConnectionError(endpoint_url="https://ecs.eu-west-2.amazonaws.com"), "cannot reach https://", 1),
        (
            ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeStacks"),
            "AWS refused DescribeStacks: AccessDenied: no",
            1,
        ),
        (FileNotFoundError(2, "No such file or directory", "config/x"), "config/x: No such file or directory", 1),
        (ValueError("odd"), "unexpected ValueError: odd (run `slipway --debug …` for the traceback)", 1),
    ],
)
def test_every_failure_is_explained_in_one_line(exc: Exception, line: str, code: int) -> None:
    message, exit_code = explain(exc)
    assert message.startswith(line)
    assert "\n" not in message
    assert exit_code == code


def test_a_refused_call_is_one_failed_check_naming_it() -> None:
    from slipway_dev.preflight import guarded

    def refused() -> list[Check]:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetDeploymentGroup")

    def odd() -> list[Check]:
        raise ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}}, "DescribeServices")

    assert [c.line() for c in guarded("web-app/production", refused)] == [
        "✗ web-app/production: AWS refused GetDeploymentGroup (AccessDeniedException): allow it to the identity "
        "running preflight"
    ]
    assert guarded("x", odd)[0].fix == "AWS refused DescribeServices: Throttling: slow down"
    assert guarded("x", lambda: [Check("fine")]) == [Check("fine")]
