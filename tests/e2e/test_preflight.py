"""`slipway preflight` against the embedded local cloud: every check passes for the example config; a missing
cluster, a repository missing from RepositoryNames, a role not in TaskRoleArns and a bot not in a channel each
fail with the right fix, and the exit code says so. The cloud is found as a user's shell finds it: local.json."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.paths import CONFIG

from slipway_dev.cli import main
from slipway_dev.local.cloud import LocalCloud


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    state_dir = tmp_path_factory.mktemp("state")
    with LocalCloud(state_dir=state_dir, codedeploy_delay=0.0, time_scale=0.0, log_level="WARNING") as started:
        yield started


def preflight(
    cloud: LocalCloud, capsys: pytest.CaptureFixture[str], config: Path, *extra: str
) -> tuple[int, list[str]]:
    code = main(["preflight", "--config", str(config), "--state-dir", str(cloud.state_dir), *extra])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out.splitlines()


def checks(lines: list[str], mark: str) -> list[str]:
    return [line.strip()[2:] for line in lines if line.strip().startswith(mark + " ")]


def edited(tmp_path: Path, change: Callable[[dict[str, Any]], None], taskdef: str | None = None) -> Path:
    root = tmp_path / "config"
    shutil.copytree(CONFIG, root)
    (root / "pipelines" / "api.yaml").unlink()  # the web-app pipeline is the one these cases edit
    path = root / "pipelines" / "web-app.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))
    if taskdef is not None:
        (root / "taskdefs" / "app-task.json").write_text(taskdef)
    return root


def test_the_example_config_passes_every_check(cloud: LocalCloud, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = preflight(cloud, capsys, CONFIG)
    assert lines[0] == f"preflight of {CONFIG} against the local cloud at {cloud.endpoint}"
    assert checks(lines, "✗") == [] and checks(lines, "-") == []
    passed = checks(lines, "✓")
    assert len(passed) >= 30
    for expected in (
        "stack slipway-dev exists (CREATE_COMPLETE)",
        "RepositoryNames include app-images (pipeline web-app)",
        "ECR repository app-images exists",
        "ECS cluster production-app-cluster exists",
        "production-app-service uses the CODE_DEPLOY deployment controller (config: deployment.type codedeploy)",
        "codedeploy-deployment-group-production deploys production-app-cluster/production-app-service",
        "target groups web-app-production-blue, web-app-production-green exist",
        "IAM role ecs-task-role exists (named by the task definition of web-app/production)",
        "approver U0APPROVER1 (@u0approver1) is a Slack user (api/production, web-app/production)",
        "RepositoryNames include api-images (pipeline api)",
        "staging-api-service uses the ECS deployment controller (config: deployment.type ecs)",
        "production-api-service uses the ECS deployment controller (config: deployment.type ecs)",
    ):
        assert expected in passed, "\n".join(lines)
    assert any(p.startswith("the bot can post to #deploys-production (C") for p in passed)
    assert any(p.startswith(f"s3://slipway-dev-config-{cloud.account}/config holds ") for p in passed)
    assert lines[-1] == "every check passed"
    assert code == 0


def test_a_missing_cluster(cloud: LocalCloud, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = edited(tmp_path, lambda d: d["environments"][0].update(cluster="no-such-cluster"))
    code, lines = preflight(cloud, capsys, root, "--env", "staging")
    assert code == 1
    assert "ECS cluster no-such-cluster exists: create it, or fix environments[].cluster of staging in the config" in (
        checks(lines, "✗")
    )
    assert not any("production" in line for line in lines if line.startswith("web-app/"))  # --env staging only


def test_a_repository_missing_from_repository_names(
    cloud: LocalCloud, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = edited(tmp_path, lambda d: d.update(repository="go-api"))
    code, lines = preflight(cloud, capsys, root)
    assert code == 1
    failed = checks(lines, "✗")
    assert (
        "RepositoryNames include go-api (pipeline web-app): the stack listens only to api-images, app-images, so "
        "pushes of go-api are dropped by the EventBridge rule: redeploy with "
        "RepositoryNames=api-images,app-images,go-api (sam deploy --parameter-overrides, or samconfig.toml)"
    ) in failed
    assert "ECR repository go-api exists: create it (aws ecr create-repository --repository-name go-api)" in failed


def test_a_role_not_in_task_role_arns(cloud: LocalCloud, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    role = f"arn:aws:iam::{cloud.account}:role/go-api-task"
    text = (CONFIG / "taskdefs" / "app-task.json").read_text()  # a template: ${app_port} is not JSON yet
    taskdef = text.replace(f'"arn:aws:iam::{cloud.account}:role/ecs-task-role"', json.dumps(role))
    assert taskdef != text
    root = edited(tmp_path, lambda d: None, taskdef=taskdef)
    code, lines = preflight(cloud, capsys, root)
    assert code == 1
    failed = checks(lines, "✗")
    assert any(
        line.startswith(f"TaskRoleArns include {role} (web-app/staging taskRoleArn, web-app/production taskRoleArn): ")
        and "(iam:PassRole)" in line
        for line in failed
    ), failed
    assert "IAM role go-api-task exists (named by the task definition of web-app/staging): create go-api-task " in (
        " ".join(failed)
    )


def test_a_bot_not_in_a_channel(cloud: LocalCloud, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    channel = cloud.slack.add_channel("#release-ops", member=False)
    root = edited(tmp_path, lambda d: d["environments"][1].update(slack_channel="#release-ops"))
    code, lines = preflight(cloud, capsys, root, "--env", "production")
    assert code == 1
    assert (
        f"the bot can post to #release-ops (approvals of web-app/production): the bot is not in #release-ops "
        f"({channel}): invite it (/invite @slipway in #release-ops ({channel}))"
    ) in checks(lines, "✗")


def test_no_such_stack_and_an_unknown_environment(cloud: LocalCloud, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = preflight(cloud, capsys, CONFIG, "--stack", "slipway-nope")
    assert code == 1
    assert checks(lines, "✗")[0].startswith("stack slipway-nope exists: no such stack in this account and region")
    assert main(["preflight", "--config", str(CONFIG), "--env", "qa"]) == 2
    assert "no pipeline has an environment 'qa' (environments: production, staging)" in capsys.readouterr().err


def test_each_kind_of_trouble_gets_its_own_fix(
    cloud: LocalCloud, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ecs, codedeploy = cloud.client("ecs"), cloud.client("codedeploy")
    family = ecs.register_task_definition(
        family="rolling", containerDefinitions=[{"name": "x", "image": "x", "memory": 128}]
    )
    ecs.create_service(
        cluster="staging-app-cluster",
        serviceName="rolling-service",
        taskDefinition=family["taskDefinition"]["taskDefinitionArn"],
        desiredCount=1,
    )
    codedeploy.create_deployment_group(
        applicationName="codedeploy-app",
        deploymentGroupName="elsewhere",
        serviceRoleArn=f"arn:aws:iam::{cloud.account}:role/codedeploy-service-role",
        ecsServices=[{"clusterName": "production-app-cluster", "serviceName": "production-app-service"}],
    )
    cloud.client("ecr").create_repository(repositoryName="unscanned")
    old = cloud.slack.add_channel("#old")
    cloud.slack.channels[old]["is_archived"] = True
    cloud.slack.add_user("U0GONE", deleted=True)

    def trouble(data: dict[str, Any]) -> None:
        staging, production = data["environments"]
        data.update(repository="unscanned")
        staging.update(service="rolling-service", task_definition={"source": "live"}, slack_channel="#nowhere")
        staging["deployment"].update(deployment_group="elsewhere")
        staging.update(scan_gate={"action": "require_approval"}, approval={"approvers": {"users": ["U0GONE"]}})
        production["deployment"].update(application="no-such-app")
        production.update(slack_channel="#old", task_definition={"source": "artifact", "path": "taskdef.json"})
        production["approval"]["approvers"] = {"users": ["U0NOBODY"], "groups": ["S0NOBODY"]}

    code, lines = preflight(cloud, capsys, edited(tmp_path, trouble))
    assert code == 1
    failed = "\n".join(checks(lines, "✗"))
    for expected in (
        "unscanned scans on push (scan gate of staging): the scan gate would wait for a scan that never starts",
        "rolling-service uses the CODE_DEPLOY deployment controller (config: deployment.type codedeploy): it uses "
        "ECS: slipway deploys through CodeDeploy blue/green; switch it to CODE_DEPLOY",
        "elsewhere deploys staging-app-cluster/rolling-service: it deploys production-app-cluster/"
        "production-app-service: fix the deployment group or the config",
        "elsewhere is blue/green with two target groups: an ECS deployment group needs BLUE_GREEN",
        "CodeDeploy application no-such-app (ECS) exists: create it: aws deploy create-application",
        "the bot can post to #nowhere (approvals of web-app/staging): Slack has no channel #nowhere the bot can see",
        f"the bot can post to #old (approvals of web-app/production): #old ({old}) is archived",
        "approver U0GONE is a Slack user (web-app/staging): @u0gone is deactivated: name another approver",
        "approver U0NOBODY is a Slack user (web-app/production): Slack answered user_not_found",
        "approver group S0NOBODY exists (web-app/production): Slack answered no_such_subteam",
    ):
        assert expected in failed, f"{expected!r} not in:\n{failed}"
    skipped = checks(lines, "-")
    assert skipped == [
        "task roles of web-app/production: not checked: its task definition comes from the CodePipeline artifact "
        "(taskdef.json)"
    ]
