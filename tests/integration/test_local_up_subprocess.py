"""`slipway local up` as a user runs it: a separate process, driven over HTTP with boto3 and the CLI.

Sends events/ecr-push.json with PutEvents, approves with `slipway local approve`, sees production succeed, then
stops the server with SIGINT and checks that nothing is left running.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests.support.paths import ROOT, load_event

from slipway.models.release import release_id_for
from slipway_dev.local.base import wait_for
from slipway_dev.sam_local import function_for

pytestmark = pytest.mark.integration

SLIPWAY = [sys.executable, "-m", "slipway_dev.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def children_of(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


def slipway(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SLIPWAY, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_local_up_release_approve_and_clean_stop(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SLIPWAY_LOCAL_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    log = (tmp_path / "up.log").open("w")
    server = subprocess.Popen(
        [*SLIPWAY, "local", "up", "--port", str(port), "--codedeploy-delay", "0.2", "--time-scale", "0"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        state_file = tmp_path / "local.json"
        wait_for(lambda: state_file.exists() or server.poll() is not None, 90, "local.json", interval=0.1)
        assert server.poll() is None, (tmp_path / "up.log").read_text()
        state = json.loads(state_file.read_text())
        assert state["aws_endpoint"] == f"http://127.0.0.1:{port}"
        assert state["pid"] == server.pid

        session = boto3.Session(region_name="eu-west-2")
        events = session.client("events", endpoint_url=state["aws_endpoint"])
        sfn = session.client("stepfunctions", endpoint_url=state["aws_endpoint"])
        # A push as AWS reports it: CloudTrail's PutImage record (who: alice, U0PUSHER in config/people.yaml, so the
        # approval needs the one approver its policy names) and ECR's push event (what).
        for sample in (load_event("cloudtrail-ecr-putimage.json"), load_event("ecr-push.json")):
            response = events.put_events(
                Entries=[
                    {
                        "Source": sample["source"],
                        "DetailType": sample["detail-type"],
                        "Detail": json.dumps(sample["detail"]),
                        "Resources": sample["resources"],
                    }
                ]
            )
            assert response["FailedEntryCount"] == 0

        def approval_id() -> str | None:
            with urllib.request.urlopen(state["slack_messages_url"]) as reply:
                messages = json.loads(reply.read())
            for message in messages:
                for block in message.get("blocks") or []:
                    for element in block.get("elements") or []:
                        if element.get("type") == "button" and "approve" in element.get("action_id", ""):
                            return str(element["value"])
            return None

        approval = wait_for(approval_id, 60, "the production approval message")
        approved = slipway("local", "approve", approval, env=env)
        assert approved.returncode == 0, approved.stderr
        assert "HTTP 200" in approved.stdout

        release_id = release_id_for("web-app", sample["detail"]["image-digest"])
        execution_arn = state["state_machine_arn"].replace(":stateMachine:", ":execution:") + ":" + release_id

        def finished() -> dict[str, Any] | None:
            described = sfn.describe_execution(executionArn=execution_arn)
            return described if described["status"] != "RUNNING" else None

        final = wait_for(finished, 60, "the end of the release")
        assert final["status"] == "SUCCEEDED"
        assert "finalized" not in json.loads(final["output"])  # not stopped: it went all the way
        codedeploy = session.client("codedeploy", endpoint_url=state["aws_endpoint"])
        ids = codedeploy.list_deployments()["deployments"]
        infos = codedeploy.batch_get_deployments(deploymentIds=ids)["deploymentsInfo"]
        by_group = {i["deploymentGroupName"]: i["status"] for i in infos}
        assert by_group["codedeploy-deployment-group-production"] == "Succeeded"

        # `slipway local invoke` against the running cloud: every sample event, with the function it belongs to
        for event_file in sorted((ROOT / "events").glob("*.json")):
            function = function_for(event_file.name)
            invoked = slipway("local", "invoke", function, "-e", f"events/{event_file.name}", env=env)
            assert invoked.returncode == 0, (event_file.name, invoked.stdout, invoked.stderr)
            json.loads(invoked.stdout)
        invoked = slipway("local", "invoke", "FinalizeReleaseFunction", "-e", "events/ecr-push.json", env=env)
        assert invoked.returncode == 1  # an error payload, like `sam local invoke` of a failing function
        assert "FinalizeReleaseFunction failed" in invoked.stderr
        unknown = slipway("local", "invoke", "NoSuchFunction", "-e", "events/ecr-push.json", env=env)
        assert unknown.returncode == 2
        assert "EcrPushFunction" in unknown.stderr

        # `make demo` with AWS_ENDPOINT_URL pointing at this cloud runs its release here
        demo = slipway("local", "demo", "--pipeline", "web-app", env={**env, "AWS_ENDPOINT_URL": state["aws_endpoint"]})
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "using the local cloud already running" in demo.stdout
        summary = json.loads((tmp_path / "demo-summary.json").read_text())
        assert summary["environments"]["production"]["status"] == "SUCCEEDED"
        assert summary["lambda_invocations_by_function"]["EcrPushFunction"] == 2  # the push and its CloudTrail record
        assert (tmp_path / "env.json").is_file()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
        log.close()
    assert server.returncode == 0, (tmp_path / "up.log").read_text()
    assert children_of(server.pid) == []
    assert not port_open(port)
    assert not (tmp_path / "local.json").exists()
