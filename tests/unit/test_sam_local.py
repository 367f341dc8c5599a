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
