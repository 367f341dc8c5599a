"""Environments in other accounts and regions (docs/accounts.md): the target's validation, the assumed-role
sessions (named by the release, cached until near expiry, a refusal naming the role and the fix), the replication
check, and the deploy role of target-account.yaml as the IAM check judges it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber
from pydantic import ValidationError

from slipway.adapters.targets import TargetSessions, session_name
from slipway.domain.release.gates import pull_registry, registry_region
from slipway.errors import TargetAccessDenied, TransientError
from slipway.models.release import Release
from slipway.models.target import Target
from slipway_dev.iam.check import judge
from slipway_dev.iam.recorder import Call, Stack
from slipway_dev.iam.target_roles import target_roles
from slipway_dev.stack import stack_resolver
from slipway_dev.template import PROJECT_ROOT, load_template
from tests.support.fakes import FakeReplica

ROLE = "arn:aws:iam::210987654321:role/slipway-deploy"
TARGET = {"account_id": "210987654321", "region": "eu-central-1", "role_arn": ROLE, "external_id": "slipway-orders"}
NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32


# ---------------------------------------------------------------------------------------------- the target
def test_a_target_names_an_account_a_role_in_it_and_a_real_region() -> None:
    assert Target.model_validate(TARGET).region == "eu-central-1"
    with pytest.raises(ValidationError, match="role_arn is in account 210987654321 but account_id is 111111111111"):
        Target.model_validate({**TARGET, "account_id": "111111111111"})
    with pytest.raises(ValidationError, match="'eu-middle-9' is not an AWS region botocore knows"):
        Target.model_validate({**TARGET, "region": "eu-middle-9"})
    with pytest.raises(ValidationError, match="account_id"):
        Target.model_validate({**TARGET, "account_id": "2109876543"})
    # AWS's identifiers are ASCII: other scripts' digits and letters are refused (models/target.py)
    with pytest.raises(ValidationError, match="account_id"):
        Target.model_validate({**TARGET, "account_id": "٢١٠٩٨٧٦٥٤٣٢١"})
    with pytest.raises(ValidationError, match="role_arn"):
        Target.model_validate({**TARGET, "role_arn": "arn:aws:iam::210987654321:role/déploiement"})


# ---------------------------------------------------------------------------------------------- the sessions
def sts() -> Any:
    return botocore.session.get_session().create_client(
        "sts", region_name="eu-west-2", aws_access_key_id="k", aws_secret_access_key="s"
    )


def credentials(expires: datetime) -> dict[str, Any]:
    return {
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLEEXAMPLE01",
            "SecretAccessKey": "secret-access-key-of-the-session",
            "SessionToken": "session-token",
            "Expiration": expires,
        },
        "AssumedRoleUser": {"AssumedRoleId": "AROAEXAMPLE:x", "Arn": "arn:aws:sts::210987654321:assumed-role/x/y"},
    }


def test_the_session_is_named_by_the_release_and_cached_until_near_expiry() -> None:
    client, clock = sts(), [NOW]
    sessions = TargetSessions(client, clock=lambda: clock[0])
    target = Target.model_validate(TARGET)
    expected = {"RoleArn": ROLE, "RoleSessionName": "orders-0123", "ExternalId": "slipway-orders"}
    with Stubber(client) as stub:
        stub.add_response("assume_role", credentials(NOW + timedelta(hours=1)), expected)
        first = sessions.clients(target, "orders-0123")
        assert sessions.clients(target, "orders-0123") is first  # cached
        clock[0] = NOW + timedelta(minutes=56)  # within five minutes of expiry: assumed again
        stub.add_response("assume_role", credentials(NOW + timedelta(hours=2)), expected)
        assert sessions.clients(target, "orders-0123") is not first
        stub.assert_no_pending_responses()
    assert first._boto3_session().region_name == "eu-central-1"
    assert session_name("p" * 40 + "-" + "a" * 32 + "-a2") == ("p" * 40 + "-" + "a" * 32)[:64]


@pytest.mark.parametrize("external_id", ["slipway-orders", None])
def test_a_refused_assume_role_names_the_role_and_the_fix(external_id: str | None) -> None:
    client = sts()
    target = Target.model_validate({**TARGET, "external_id": external_id})
    with Stubber(client) as stub:
        stub.add_client_error("assume_role", "AccessDenied", "not authorized to perform: sts:AssumeRole")
        with pytest.raises(TargetAccessDenied) as raised:
            TargetSessions(client).clients(target, "orders-0123")
    cause = str(raised.value)
    assert ROLE in cause and "210987654321 / eu-central-1" in cause
    assert "trust policy must admit the control plane's function roles" in cause
    assert "TargetRoleArns" in cause
    assert ("external_id ('slipway-orders')" in cause) == (external_id is not None)


# ---------------------------------------------------------------------------------------------- replication
def release() -> Release:
    return Release(
        release_id="orders-abab",
        pipeline="orders",
        registry="123456789012.dkr.ecr.eu-west-2.amazonaws.com",
        repository="orders-api",
        digest=DIGEST,
        tags=["latest"],
        pushed_at=NOW,
    )


class ReplicaDeps:
    def __init__(self, replica: FakeReplica) -> None:
        self.replica = replica
        self.asked: list[str] = []

    def images_in(self, region: str) -> FakeReplica:
        self.asked.append(region)
        return self.replica


def environment(target: dict[str, Any] | None) -> Any:
    from slipway.models.config import Environment

    return Environment.model_validate(
        {
            "name": "production",
            "cluster": "c",
            "service": "s",
            "deployment": {"application": "a", "deployment_group": "g"},
            "task_definition": {"source": "live"},
            "containers": ["app"],
            "appspec": {"container_name": "app", "container_port": 80},
            **({"target": target} if target else {}),
        }
    )


def test_an_environment_in_another_region_pulls_from_the_replica_once_the_digest_is_there() -> None:
    deps = ReplicaDeps(FakeReplica({DIGEST}))
    assert pull_registry(deps, environment(TARGET), release()) == "123456789012.dkr.ecr.eu-central-1.amazonaws.com"  # type: ignore[arg-type]
    assert deps.asked == ["eu-central-1"]
    # Same region (another account) or no target: the pushed registry, nothing asked.
    same_region = {**TARGET, "region": "eu-west-2"}
    assert pull_registry(deps, environment(same_region), release()) == release().registry  # type: ignore[arg-type]
    assert pull_registry(deps, environment(None), release()) == release().registry  # type: ignore[arg-type]
    assert deps.asked == ["eu-central-1"]
    assert registry_region("123456789012.dkr.ecr.eu-west-2.amazonaws.com") == "eu-west-2"


def test_replication_not_done_is_transient_naming_the_replica_and_the_fix() -> None:
    with pytest.raises(TransientError) as raised:
        pull_registry(ReplicaDeps(FakeReplica()), environment(TARGET), release())  # type: ignore[arg-type]
    cause = str(raised.value)
    assert "is not in 123456789012.dkr.ecr.eu-central-1.amazonaws.com (eu-central-1) yet" in cause
    assert "retries for up to about 8 minutes, then fails" in cause
    assert "replicates orders-api to eu-central-1" in cause


# ---------------------------------------------------------------------------------------------- the deploy role
def deploy_roles(template: Path = PROJECT_ROOT / "target-account.yaml") -> Any:
    from slipway.domain.config import LocalConfigSource, load_config

    config_dir = PROJECT_ROOT / "config" / "examples" / "cross-account"
    return target_roles(
        load_config(LocalConfigSource(config_dir)),
        config_dir,
        control_plane_account="123456789012",
        control_plane_region="eu-west-2",
        control_plane_roles=["arn:aws:iam::123456789012:role/slipway-prod-StartDeploymentFunctionRole"],
        path=template,
    )


def test_the_deploy_role_grants_star_only_where_aws_requires_it() -> None:
    [role] = deploy_roles().values()
    starred = {a for s in role.statements if s.resources == ("*",) for a in s.actions}
    assert starred == {"ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"}
    passed = [s for s in role.statements if "iam:PassRole" in s.actions]
    assert [r for s in passed for r in s.resources] == [
        "arn:aws:iam::210987654321:role/orders-production-execution",
        "arn:aws:iam::210987654321:role/orders-production-task",
    ]


def test_a_call_with_the_deploy_roles_credentials_is_judged_by_that_role() -> None:
    template = load_template()
    stack = Stack(
        "prod",
        stack_resolver(
            template,
            region="eu-west-2",
            account="123456789012",
            prefix="slipway-prod",
            parameters={
                "SlackSecretArn": "arn:aws:secretsmanager:eu-west-2:123456789012:secret:s-AbCdEf",
                "ConfigLocation": "s3://acme/prod",
                "RepositoryNames": ["orders-api"],
                "TaskRoleArns": ["arn:aws:iam::123456789012:role/t"],
                "TargetRoleArns": [ROLE],
            },
        ),
        "arn:aws:states:eu-west-2:123456789012:stateMachine:slipway-release-prod",
        deploy_roles(),
    )

    def deploy(group: str) -> Call:
        params = {"applicationName": "orders", "deploymentGroupName": group}
        return Call("StartDeploymentFunction", "codedeploy", "CreateDeployment", params, "eu-central-1", "prod", ROLE)

    assume = Call(
        "StartDeploymentFunction", "sts", "AssumeRole", {"RoleArn": ROLE, "RoleSessionName": "r"}, "eu-west-2", "prod"
    )
    assert judge([assume, deploy("orders-production")], {"prod": stack}).denials == []
    [denial] = judge([deploy("payments-production")], {"prod": stack}).denials
    assert denial.function == f"target-account.yaml DeployRole ({ROLE})"
    assert denial.resource == "arn:aws:codedeploy:eu-central-1:210987654321:deploymentgroup:orders/payments-production"


def test_stack_parameters_name_the_deploy_roles_and_each_target_accounts_parameters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from slipway_dev.cli import main

    config = str(PROJECT_ROOT / "config" / "examples" / "cross-account")
    assert main(["stack-parameters", "--config", config]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"TargetRoleArns={ROLE}" in lines and "TargetAccountIds=210987654321" in lines
    assert main(["stack-parameters", "--config", config, "--target-account", "210987654321"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "ServiceNames=production-cluster/orders" in lines
    assert "DeploymentGroupNames=orders/orders-production" in lines
    assert "ExternalId=slipway-orders" in lines
    assert main(["stack-parameters", "--config", config, "--target-account", "111111111111"]) == 1
    assert "targets: 210987654321" in capsys.readouterr().err
