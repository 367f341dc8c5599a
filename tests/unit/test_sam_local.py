"""`sam local invoke` against the local cloud: where the cloud listens, how containers name it, and how
`make sam-local` reads SAM's output (SAM exits 0 even when the function raises)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from slipway_dev import sam_local
from slipway_dev.local import containers
from slipway_dev.local.containers import HostError, container_host, for_containers, listen_address
from tests.support.paths import ROOT

pytestmark = pytest.mark.unit


def test_the_listen_address_is_an_ip_of_this_machine_never_a_wildcard() -> None:
    assert listen_address("127.0.0.1") == "127.0.0.1"
    assert listen_address("localhost") == "127.0.0.1"
    assert listen_address("172.17.0.1") == "172.17.0.1"
    for wildcard in ("0.0.0.0", "::"):
        with pytest.raises(HostError, match="unauthenticated local cloud"):
            listen_address(wildcard)
    with pytest.raises(HostError, match="not an IP address"):
        listen_address("my-laptop.example.com")


def test_docker_bridge_is_docker0s_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers, "interface_ipv4", lambda name: {"docker0": "172.17.0.1"}[name])
    assert listen_address("docker-bridge") == "172.17.0.1"

    def missing(name: str) -> str:
        raise OSError(19, "No such device")

    monkeypatch.setattr(containers, "interface_ipv4", missing)
    with pytest.raises(HostError, match="no docker0 interface"):
        listen_address("docker-bridge")


def test_containers_name_the_cloud_host_docker_internal_on_loopback_else_its_address() -> None:
    assert container_host("127.0.0.1") == "host.docker.internal"
    assert container_host("172.17.0.1") == "172.17.0.1"
    assert container_host("127.0.0.1", "192.168.65.254") == "192.168.65.254"


def test_the_env_file_rewrites_only_the_clouds_urls() -> None:
    environment = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "SLIPWAY_SLACK_API_URL": "http://127.0.0.1:40123/api/",
        "SLIPWAY_CONFIG_LOCATION": "s3://slipway-dev-config-123456789012/config",
        "POWERTOOLS_SERVICE_NAME": "slipway",
    }
    assert for_containers(environment, "127.0.0.1", "host.docker.internal") == {
        "AWS_ENDPOINT_URL": "http://host.docker.internal:4566",
        "SLIPWAY_SLACK_API_URL": "http://host.docker.internal:40123/api/",
        "SLIPWAY_CONFIG_LOCATION": "s3://slipway-dev-config-123456789012/config",
        "POWERTOOLS_SERVICE_NAME": "slipway",
    }


def test_every_sample_event_has_its_function_and_dependents_come_after() -> None:
    events = sam_local.sample_events(ROOT / "events")
    assert {path.name for path in events} == {path.name for path in (ROOT / "events").glob("*.json")}
    names = [path.name for path in events]
    assert names.index("codepipeline-job.json") < names.index("codepipeline-job-continuation.json")
    assert {sam_local.function_for(name) for name in names} == {
        "EcrPushFunction",
        "CodePipelineJobFunction",
        "CodePipelineApprovalFunction",
        "DeploymentEventsFunction",
        "RequestApprovalFunction",  # ECS's Hook State Change (an approval after test traffic)
        "SlackInteractionsFunction",
    }
    with pytest.raises(KeyError, match="add the function"):
        sam_local.function_for("s3-put.json")


def test_sams_output_is_judged_by_the_payload_not_the_exit_code() -> None:
    raised = (
        'Invoking app.lambda_handler\nEND RequestId: 1\n{"errorType": "ConfigError", "errorMessage": "no pipeline"}\n'
    )
    assert sam_local.judge(raised) == (False, "ConfigError: no pipeline")
    assert sam_local.judge('START\n{"statusCode": 401, "body": "bad signature"}\n') == (True, "HTTP 401")
    assert sam_local.judge('{"started": true, "release_id": "web-app-1"}') == (
        True,
        '{"started": true, "release_id": "web-app-1"}',
    )
    assert sam_local.judge("Error: Running AWS SAM projects locally requires Docker.\n") == (
        False,
        "no response printed",
    )


def test_the_lambda_architecture_follows_the_machine() -> None:
    assert sam_local.lambda_architecture("x86_64") == "x86_64"
    assert sam_local.lambda_architecture("AMD64") == "x86_64"
    assert sam_local.lambda_architecture("aarch64") == "arm64"
    assert sam_local.lambda_architecture("arm64") == "arm64"


def test_without_docker_it_says_skipped_and_invokes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sam_local.shutil, "which", lambda name: None)
    assert sam_local.run("sam", ["slipway"]) == 0
    assert "sam-local: SKIPPED, no docker command on PATH" in capsys.readouterr().out

    monkeypatch.setattr(sam_local.shutil, "which", lambda name: "/usr/bin/docker")

    def daemon_down(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(
            args, 1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"
        )

    assert "Cannot connect to the Docker daemon" in (sam_local.docker_problem(daemon_down) or "")
    assert "[" not in (sam_local.docker_problem(daemon_down) or "")  # the last stderr line itself, not a list


def test_the_offline_base_image_is_never_pulled_over_and_the_real_one_is() -> None:
    asked: list[list[str]] = []

    def docker(label: str, returncode: int = 0) -> Any:
        def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
            asked.append(args)
            return subprocess.CompletedProcess(args, returncode, label + "\n", "")

        return run

    assert sam_local.offline_base_image("x86_64", docker("offline")) is True
    assert asked[-1][-1] == "public.ecr.aws/lambda/python:3.13-x86_64"
    assert sam_local.OFFLINE_IMAGE_LABEL in asked[-1][-2]
    assert sam_local.offline_base_image("arm64", docker("<no value>")) is False  # pulled from public.ecr.aws
    assert asked[-1][-1] == "public.ecr.aws/lambda/python:3.13-arm64"
    assert sam_local.offline_base_image("x86_64", docker("", returncode=1)) is False  # not there: SAM pulls it


def test_each_invoke_asks_the_local_cloud_only(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def sam(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append((args, kwargs["env"]))
        return subprocess.CompletedProcess(args, 0, 'START\n{"statusCode": 200, "body": ""}', "")

    monkeypatch.setattr(sam_local.subprocess, "run", sam)
    runner = sam_local.SamLocal("sam", ["slipway"], "x86_64", skip_pull=True)
    runner.state = {
        "aws_endpoint": "http://172.17.0.1:4566",
        "sam_env_vars": ".slipway/sam-local/env.json",
        "sam_parameters": {"EnvironmentName": "dev", "KmsKeyArns": "", "Architecture": "arm64"},
    }
    outcome = runner.invoke("SlackInteractionsFunction", ROOT / "events" / "slack-block-actions.json")
    assert (outcome.ok, outcome.summary, outcome.payload) == (True, "HTTP 200", {"statusCode": 200, "body": ""})
    args, env = calls[-1]
    assert "--skip-pull-image" in args
    assert args[args.index("--parameter-overrides") + 1 :] == ["EnvironmentName=dev", "Architecture=x86_64"]
    assert env["AWS_ENDPOINT_URL"] == "http://172.17.0.1:4566"  # SAM's own STS call goes to the local cloud

    runner.skip_pull = False
    runner.invoke("SlackInteractionsFunction", ROOT / "events" / "slack-block-actions.json")
    assert "--skip-pull-image" not in calls[-1][0]


def test_the_release_to_approve_is_the_one_the_ecr_push_started() -> None:
    started = {
        "outcomes": [
            {"pipeline": "other", "status": "ignored", "reason": "tag filter"},
            {"pipeline": "web-app", "status": "started", "release_id": "web-app-46aadd99"},
        ]
    }
    assert sam_local.release_id(started) == "web-app-46aadd99"
    assert sam_local.release_id({"outcomes": [{"status": "ignored"}]}) is None
    assert sam_local.release_id({"errorType": "ConfigError"}) is None
    assert sam_local.release_id(None) is None
    assert sam_local.response('log line\n{"a": 1}\nEND') == {"a": 1}
    assert sam_local.response("nothing printed") is None


def test_no_release_started_means_a_bad_approval_row_not_a_crash() -> None:
    runner = sam_local.SamLocal("sam", ["slipway"], "x86_64")
    ecr_push = sam_local.Outcome("ecr-push.json", "EcrPushFunction", False, "ConfigError: x", 1.0, {"errorType": "X"})
    outcome = sam_local._approve(runner, None, ecr_push)  # type: ignore[arg-type]  # never reached: nothing to approve
    assert outcome.ok is False
    assert "ecr-push.json started no release" in outcome.summary
