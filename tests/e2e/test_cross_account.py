"""Environments in other accounts and regions, through the real ASL and handlers (docs/accounts.md).

The local cloud runs config/examples/cross-account: staging in the tools account 123456789012 / eu-west-2 (the
control plane's), production in account 210987654321 / eu-central-1, acted on through its deploy role; ECR
replication copies each push to the tools account's eu-central-1 registry, and production's CodeDeploy events are
forwarded to the control plane's bus as target-account.yaml's rule forwards them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from moto.sts.models import sts_backends
from tests.support.clicks import click_latest
from tests.support.paths import ROOT

from slipway.adapters.audit import AuditLog
from slipway.models.records import AuditKind
from slipway_dev.local.base import shared_session
from slipway_dev.local.cloud import LocalCloud

CONFIG = ROOT / "config" / "examples" / "cross-account"
TOOLS, PRODUCTION = "123456789012", "210987654321"
HOME_REGION, PRODUCTION_REGION = "eu-west-2", "eu-central-1"
DEPLOY_ROLE = f"arn:aws:iam::{PRODUCTION}:role/slipway-deploy"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def start(factory: Callable[..., LocalCloud], **options: Any) -> LocalCloud:
    return factory(config_dir=CONFIG, **options)


def production(cloud: LocalCloud, service: str) -> Any:
    return cloud.places[f"{PRODUCTION}/{PRODUCTION_REGION}"].client(service)


def families(ecs: Any, prefix: str) -> list[str]:
    return list(ecs.list_task_definitions(familyPrefix=prefix)["taskDefinitionArns"])


def deployments(codedeploy: Any, group: str) -> list[str]:
    return list(codedeploy.list_deployments(applicationName="orders", deploymentGroupName=group)["deployments"])


def audit(cloud: LocalCloud) -> AuditLog:
    return AuditLog(cloud.client("dynamodb"), cloud.world.table_names["AuditTable"])


def test_production_deploys_in_its_own_account_and_region_with_assumed_role_credentials(
    local_cloud_factory: Callable[..., LocalCloud],
) -> None:
    cloud = start(local_cloud_factory)
    release_id = cloud.push_image(tag=COMMIT, repository="orders-api").release_ids["orders"]
    assert click_latest(cloud) == 200
    final = cloud.wait_for_execution(release_id, timeout=60)
    assert final["status"] == "SUCCEEDED", cloud.execution_history(release_id)[-3:]

    # Staging: the control plane's own account and region.
    assert families(cloud.client("ecs"), "orders-staging")
    assert deployments(cloud.client("codedeploy"), "orders-staging")
    # Production: only in account B / region 2, ...
    [arn] = families(production(cloud, "ecs"), "orders-production")
    assert arn.startswith(f"arn:aws:ecs:{PRODUCTION_REGION}:{PRODUCTION}:task-definition/orders-production:")
    assert families(cloud.client("ecs"), "orders-production") == []
    tools_in_region_2 = shared_session().client("ecs", endpoint_url=cloud.endpoint, region_name=PRODUCTION_REGION)
    assert families(tools_in_region_2, "orders-production") == []
    [deployment_id] = deployments(production(cloud, "codedeploy"), "orders-production")
    info = production(cloud, "codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert info["status"] == "Succeeded"
    # ... pulling the image from the replicated registry in its region, by digest ...
    definition = production(cloud, "ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
    image = definition["containerDefinitions"][0]["image"]
    assert image.startswith(f"{TOOLS}.dkr.ecr.{PRODUCTION_REGION}.amazonaws.com/orders-api@sha256:")
    # ... registered with assumed-role credentials whose session names the release (the target's CloudTrail).
    sessions = {(r.role_arn, r.session_name) for r in sts_backends[PRODUCTION]["aws"].assumed_roles}
    assert (DEPLOY_ROLE, release_id[:64]) in sessions

    # The audit trail and Slack name the account and region of production's actions.
    started = [e for e in audit(cloud).events(release_id) if e.kind is AuditKind.DEPLOYMENT_STARTED]
    places = {e.environment: (e.data["account"], e.data["region"]) for e in started}
    assert places == {"staging": (TOOLS, HOME_REGION), "production": (PRODUCTION, PRODUCTION_REGION)}
    texts = [m.get("text", "") for m in cloud.slack_messages]
    assert any(f"*production* in {PRODUCTION} / {PRODUCTION_REGION}" in t for t in texts), texts


def refused_release(cloud: LocalCloud, trust: dict[str, Any], commit: str) -> tuple[str, str]:
    """A release whose production deploy role has ``trust``: (the execution's cause, the release's cause)."""
    production(cloud, "iam").update_assume_role_policy(RoleName="slipway-deploy", PolicyDocument=json.dumps(trust))
    release_id = cloud.push_image(tag=commit, repository="orders-api").release_ids["orders"]
    final = cloud.wait_for_execution(release_id, timeout=60)
    assert final["status"] == "FAILED"
    return final.get("cause", ""), audit(cloud).release(release_id).cause or ""  # type: ignore[union-attr]


def test_a_missing_trust_or_a_wrong_external_id_fails_naming_the_role_and_the_fix(
    local_cloud_factory: Callable[..., LocalCloud],
) -> None:
    cloud = start(local_cloud_factory)
    other_account = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
        "Action": "sts:AssumeRole",
    }
    execution_cause, cause = refused_release(cloud, {"Version": "2012-10-17", "Statement": [other_account]}, COMMIT)
    assert "TargetAccessDenied" in execution_cause
    assert DEPLOY_ROLE in cause and "does not admit account 123456789012" in cause
    assert "trust policy must admit the control plane's function roles" in cause
    assert deployments(cloud.client("codedeploy"), "orders-staging")  # staging, in the tools account, deployed

    wrong_id = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{TOOLS}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "another-id"}},
    }
    _, cause = refused_release(cloud, {"Version": "2012-10-17", "Statement": [wrong_id]}, "f" * 40)
    assert DEPLOY_ROLE in cause and "requires another sts:ExternalId" in cause
    assert "external_id ('slipway-orders')" in cause


def test_replication_not_done_waits_then_fails_clearly(local_cloud_factory: Callable[..., LocalCloud]) -> None:
    cloud = start(local_cloud_factory, replication_delay=None)  # the image never reaches eu-central-1
    release_id = cloud.push_image(tag=COMMIT, repository="orders-api").release_ids["orders"]
    final = cloud.wait_for_execution(release_id, timeout=60)
    assert final["status"] == "FAILED"
    history = cloud.execution_history(release_id)
    prepares = [
        e for e in history if e["type"] == "TaskScheduled" and "PrepareEnvironment" in json.dumps(e, default=str)
    ]
    assert len(prepares) > 2  # staging once, production waited (retried) before giving up
    cause = audit(cloud).release(release_id).cause or ""  # type: ignore[union-attr]
    assert f"is not in {TOOLS}.dkr.ecr.{PRODUCTION_REGION}.amazonaws.com ({PRODUCTION_REGION}) yet" in cause
    assert "replication configuration replicates orders-api to eu-central-1" in cause
    assert deployments(production(cloud, "codedeploy"), "orders-production") == []


def test_replication_that_arrives_while_waiting_lets_production_deploy(
    local_cloud_factory: Callable[..., LocalCloud],
) -> None:
    cloud = start(local_cloud_factory, replication_delay=1.0, time_scale=0.05)
    release_id = cloud.push_image(tag=COMMIT, repository="orders-api").release_ids["orders"]
    assert click_latest(cloud, timeout=60) == 200
    final = cloud.wait_for_execution(release_id, timeout=60)
    assert final["status"] == "SUCCEEDED", cloud.execution_history(release_id)[-3:]
    assert deployments(production(cloud, "codedeploy"), "orders-production")


def test_a_failed_production_deployment_is_read_in_its_account_and_named_in_the_cause(
    local_cloud_factory: Callable[..., LocalCloud],
) -> None:
    cloud = start(local_cloud_factory, fail_deployments=["production"])
    release_id = cloud.push_image(tag=COMMIT, repository="orders-api").release_ids["orders"]
    assert click_latest(cloud) == 200
    final = cloud.wait_for_execution(release_id, timeout=60)
    assert final["status"] == "FAILED"
    [deployment_id] = deployments(production(cloud, "codedeploy"), "orders-production")
    result = audit(cloud).environment_result(release_id, "production")
    assert result is not None and result.status == "FAILED"
    # The failure's errorInformation came from GetDeployment in account B, through the deploy role.
    assert deployment_id in (result.cause or "") and "Simulated failure of orders-production" in (result.cause or "")


def test_preflight_checks_the_deploy_role_the_replica_and_the_pull_policy_then_the_environment_there(
    local_cloud_factory: Callable[..., LocalCloud], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from slipway_dev.cli import main

    cloud = start(local_cloud_factory, state_dir=tmp_path)
    assert main(["preflight", "--config", str(CONFIG), "--state-dir", str(tmp_path)]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert f"orders/production ({PRODUCTION} / {PRODUCTION_REGION})" in out
    assert f"✓ deploy role {DEPLOY_ROLE} can be assumed" in out
    assert f"✓ ECR repository orders-api is replicated to {PRODUCTION_REGION}" in out
    assert f"✓ ECR repository orders-api lets account {PRODUCTION} pull" in out
    assert "✓ ECS service orders in production-cluster" in out or "production-cluster" in out

    # A deploy role that does not trust the control plane: one failed check naming the fix.
    production(cloud, "iam").update_assume_role_policy(
        RoleName="slipway-deploy",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ecs.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    assert main(["preflight", "--config", str(CONFIG), "--state-dir", str(tmp_path), "--env", "production"]) == 1
    out = capsys.readouterr().out
    assert f"✗ deploy role {DEPLOY_ROLE} can be assumed: AWS refused AssumeRole" in out
    assert "EnvironmentFunctionRoleArns" in out
