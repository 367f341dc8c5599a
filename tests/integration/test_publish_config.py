"""`slipway publish-config`: validates, checks the stack covers the config (when it is deployed), copies the config
folder under the prefix and removes the files it no longer has, touching nothing else in the bucket."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from tests.support.paths import CONFIG

from slipway.adapters.s3 import S3ConfigSource
from slipway.domain.config import LocalConfigSource, load_config, load_published_config
from slipway_dev.cli import main
from slipway_dev.preflight.config_bucket import config_drift

BUCKET = "slipway-config-123456789012"
LOCATION = f"s3://{BUCKET}/dev"
ROLES = "arn:aws:iam::123456789012:role/ecs-task-execution-role,arn:aws:iam::123456789012:role/ecs-task-role"


def deploy_stack(**parameters: str) -> None:
    """A stack record with slipway's parameters (as `sam deploy` leaves them); resources do not matter here."""
    values = {
        "RepositoryNames": "api-images,app-images",
        "TaskRoleArns": ROLES,
        "ConfigLocation": LOCATION,
        **parameters,
    }
    template = {"Parameters": {k: {"Type": "String"} for k in values}, "Resources": {}}
    boto3.client("cloudformation").create_stack(
        StackName="slipway-dev",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
    )


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        yield client


def keys(s3: Any) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_publish_uploads_the_folder_and_removes_what_it_no_longer_has(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy_stack()
    for key in ("dev/pipelines/removed.yaml", "dev/notes.txt", "other/pipelines/kept.yaml"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    assert main(["publish-config", "--config", str(CONFIG), LOCATION]) == 0
    out = capsys.readouterr().out
    local = {f"dev/{p.relative_to(CONFIG).as_posix()}" for p in CONFIG.rglob("*") if p.is_file()}
    assert keys(s3) == local | {"dev/compiled/config.json", "dev/notes.txt", "other/pipelines/kept.yaml"}
    assert f"removed  s3://{BUCKET}/dev/pipelines/removed.yaml (no longer in {CONFIG})" in out
    assert "✓ RepositoryNames include app-images (pipeline web-app)" in out
    assert f"✓ slipway-dev reads its config from {LOCATION}" in out
    body = s3.get_object(Bucket=BUCKET, Key="dev/pipelines/web-app.yaml")["Body"].read()
    assert body == (CONFIG / "pipelines" / "web-app.yaml").read_bytes()


def test_the_functions_read_the_compiled_file_publish_config_writes_with_one_get(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["publish-config", "--config", str(CONFIG), LOCATION]) == 0
    assert f"compiled s3://{BUCKET}/dev/compiled/config.json (what the functions read)" in capsys.readouterr().out
    calls: list[str] = []
    s3.meta.events.register("before-call.s3", lambda event_name, **_: calls.append(event_name.rsplit(".", 1)[-1]))
    config = load_published_config(S3ConfigSource(s3, LOCATION))
    (pipeline,) = config.for_repository("app-images")
    assert calls == ["GetObject"]
    assert pipeline == load_config(LocalConfigSource(CONFIG)).pipeline("web-app")
    assert config.people == load_config(LocalConfigSource(CONFIG)).people


def test_without_the_compiled_file_the_functions_read_the_yaml_files(s3: Any) -> None:
    assert main(["publish-config", "--config", str(CONFIG), LOCATION]) == 0
    s3.delete_object(Bucket=BUCKET, Key="dev/compiled/config.json")  # an older publish, a hand-copied folder
    calls: list[str] = []
    s3.meta.events.register("before-call.s3", lambda event_name, **_: calls.append(event_name.rsplit(".", 1)[-1]))
    config = load_published_config(S3ConfigSource(s3, LOCATION))
    assert config.pipeline("web-app").repository == "app-images"
    assert calls[0] == "GetObject" and "ListObjectsV2" in calls


def test_preflight_finds_a_compiled_file_missing_or_of_another_folder(s3: Any, tmp_path: Path) -> None:
    root = tmp_path / "config"
    shutil.copytree(CONFIG, root)
    assert main(["publish-config", "--config", str(root), LOCATION]) == 0
    assert config_drift(s3, LOCATION, root).none
    compiled = s3.get_object(Bucket=BUCKET, Key="dev/compiled/config.json")["Body"].read()
    taskdef = root / "taskdefs" / "app-task.json"
    taskdef.write_text(taskdef.read_text() + "\n")  # edited, then copied by hand
    s3.upload_file(str(root / "taskdefs" / "app-task.json"), BUCKET, "dev/taskdefs/app-task.json")
    assert config_drift(s3, LOCATION, root).different == ["dev/compiled/config.json"]
    s3.delete_object(Bucket=BUCKET, Key="dev/compiled/config.json")
    assert config_drift(s3, LOCATION, root).missing == ["dev/compiled/config.json"]
    s3.put_object(Bucket=BUCKET, Key="dev/compiled/config.json", Body=compiled)
    assert main(["publish-config", "--config", str(root), LOCATION]) == 0
    assert config_drift(s3, LOCATION, root).none


def test_the_first_publish_comes_before_the_stack(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish-config", "--config", str(CONFIG), LOCATION]) == 0
    assert "- stack slipway-dev: not deployed yet, so not checked" in capsys.readouterr().out
    assert "dev/pipelines/web-app.yaml" in keys(s3)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (
            {"RepositoryNames": "other-images"},
            "✗ RepositoryNames include app-images (pipeline web-app): the stack listens only to other-images, so "
            "pushes of app-images are dropped by the EventBridge rule: redeploy with "
            "RepositoryNames=other-images,app-images",
        ),
        (
            {"TaskRoleArns": "arn:aws:iam::123456789012:role/ecs-task-role"},
            "✗ TaskRoleArns include arn:aws:iam::123456789012:role/ecs-task-execution-role (api/staging "
            "executionRoleArn, api/production executionRoleArn, web-app/staging executionRoleArn, web-app/production "
            "executionRoleArn): slipway may pass only TaskRoleArns to ECS",
        ),
        (
            {"ConfigLocation": f"s3://{BUCKET}/prod"},
            f"✗ slipway-dev reads its config from {LOCATION}: it reads s3://{BUCKET}/prod: publish there, or pass "
            "--stack",
        ),
    ],
    ids=["repository", "role", "location"],
)
def test_a_stack_that_does_not_cover_the_config_stops_the_publish(
    s3: Any, capsys: pytest.CaptureFixture[str], parameters: dict[str, str], expected: str
) -> None:
    deploy_stack(**parameters)
    assert main(["publish-config", "--config", str(CONFIG), LOCATION]) == 1
    captured = capsys.readouterr()
    assert any(line.startswith(expected) for line in captured.out.splitlines()), captured.out
    assert "not published: fix the stack (above) first" in captured.err
    assert keys(s3) == set()


def test_an_invalid_config_is_not_published(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "x.yaml").write_text("name: [")
    assert main(["publish-config", "--config", str(tmp_path), LOCATION]) == 1
    assert "not published: fix the problems above first" in capsys.readouterr().err
    assert keys(s3) == set()
