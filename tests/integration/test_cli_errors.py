"""The CLI's error paths: one line on stderr naming the problem and the fix, exit 1 or 2, never a traceback.
Missing region or credentials, no network, no bucket, no s3:// location, a cluster or service that does not
exist, an unknown pipeline, and an unexpected failure (one line and a hint; ``--debug`` shows the traceback)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws
from tests.support.paths import CONFIG, ROOT
from tests.support.world import AUDIT_TABLE, MotoWorld

from slipway_dev.cli import main

DIGEST = "sha256:" + "0" * 64


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def no_aws_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, region: bool, credentials: bool) -> None:
    """No ~/.aws files, no instance metadata; region and credentials only when asked for."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    if not region:
        monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
        monkeypatch.delenv("AWS_REGION", raising=False)
    if not credentials:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)


def config_with(tmp_path: Path, **task_definition: str) -> Path:
    root = tmp_path / "config"
    shutil.copytree(CONFIG, root)
    path = root / "pipelines" / "web-app.yaml"
    data = yaml.safe_load(path.read_text())
    data["environments"][0]["task_definition"] = task_definition
    path.write_text(yaml.safe_dump(data))
    return root


def test_render_of_a_live_task_definition_without_a_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_aws_setup(monkeypatch, tmp_path, region=False, credentials=True)
    root = config_with(tmp_path, source="live")
    assert main(["render", "web-app", "staging", "--image-digest", DIGEST, "--config", str(root)]) == 2
    assert one_line(capsys) == (
        "slipway render: no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or region in ~/.aws/config)"
    )


def test_render_of_an_s3_template_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_aws_setup(monkeypatch, tmp_path, region=True, credentials=False)
    root = config_with(tmp_path, source="template", path="s3://bucket/taskdefs/app-task.json")
    assert main(["render", "web-app", "staging", "--image-digest", DIGEST, "--config", str(root)]) == 2
    assert one_line(capsys).startswith("slipway render: no AWS credentials: set AWS_PROFILE")


def test_diff_without_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    no_aws_setup(monkeypatch, tmp_path, region=True, credentials=False)
    assert main(["diff", "web-app", "staging", "--image-digest", DIGEST, "--config", str(CONFIG)]) == 2
    assert one_line(capsys).startswith("slipway diff: no AWS credentials: set AWS_PROFILE")


def test_no_network(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert main(["diff", "web-app", "staging", "--image-digest", DIGEST, "--config", str(CONFIG)]) == 1
    assert one_line(capsys) == (
        "slipway diff: cannot reach http://127.0.0.1:9/: no network, or a wrong region or AWS_ENDPOINT_URL"
    )


def test_publish_config_needs_an_s3_location(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish-config", "--config", str(CONFIG), "my-bucket/prefix"]) == 2
    assert one_line(capsys) == (
        "slipway publish-config: my-bucket/prefix: expected the stack's ConfigLocation, s3://bucket/prefix"
    )


def test_publish_config_to_a_bucket_that_does_not_exist(capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        assert main(["publish-config", "--config", str(CONFIG), "s3://no-such-bucket/dev"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "slipway publish-config: bucket no-such-bucket does not exist: create it (aws s3 mb s3://no-such-bucket) "
        "or fix ConfigLocation"
    )


def test_diff_against_a_cluster_or_service_that_does_not_exist_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["diff", "web-app", "staging", "--image-digest", DIGEST, "--config", str(CONFIG)]
    with mock_aws():
        assert main(argv) == 2
        assert one_line(capsys).startswith("slipway diff: cluster staging-app-cluster does not exist here")
        boto3.client("ecs").create_cluster(clusterName="staging-app-cluster")
        assert main(argv) == 2
        assert one_line(capsys).startswith(
            "slipway diff: service staging-app-service does not exist in cluster staging-app-cluster"
        )


def test_history_of_an_unknown_pipeline_says_so(moto_world: MotoWorld, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["history", "nope", "--audit-table", AUDIT_TABLE, "--config", str(moto_world.config_dir)]
    assert main(argv) == 2
    where = moto_world.config_dir
    assert one_line(capsys) == f"slipway history: unknown pipeline 'nope' (pipelines in {where}: api, web-app)"
    assert main(["history", "web-app", "--audit-table", AUDIT_TABLE, "--config", str(moto_world.config_dir)]) == 0
    assert capsys.readouterr().out.strip() == "no releases of web-app"


def test_an_unexpected_failure_is_one_line_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from slipway_dev.cli import validate

    def broken(args: object) -> int:
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(validate, "run_validate", broken)
    assert main(["validate"]) == 1
    assert one_line(capsys) == (
        "slipway validate: unexpected RuntimeError: something nobody expected (run `slipway --debug …` for the "
        "traceback)"
    )
    with pytest.raises(RuntimeError):
        main(["--debug", "validate"])


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    root = config_with(tmp_path, source="live")
    for argv, code in (
        (["render", "web-app", "staging", "--image-digest", DIGEST, "--config", str(root)], 2),
        (["publish-config", "--config", str(CONFIG), "nowhere"], 2),
        (["history", "web-app", "--audit-table", "t"], 2),
    ):
        command = [sys.executable, "-m", "slipway_dev.cli", *argv]
        done = subprocess.run(command, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == code, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
