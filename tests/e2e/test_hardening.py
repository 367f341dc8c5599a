"""Hardening through the real state machine and handlers in the embedded local cloud: a failed release retried as
attempt 2, late and duplicate CodeDeploy events, a Slack outage during an approval, the pusher
rule fed by CloudTrail."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.support.clicks import click_latest
from tests.support.paths import CONFIG

from slipway.adapters.audit import AuditLog
from slipway_dev.cli import main
from slipway_dev.local import interaction
from slipway_dev.local.base import FAIL_ENV_VAR
from slipway_dev.local.cloud import LocalCloud
from slipway_dev.local.faults import AwsFaults

pytestmark = pytest.mark.e2e


def audit(cloud: LocalCloud) -> AuditLog:
    return AuditLog(cloud.client("dynamodb"), cloud.world.table_names["AuditTable"])


def approval_messages(cloud: LocalCloud, release_id: str | None = None) -> list[dict[str, Any]]:
    return [
        m
        for m in cloud.slack_messages
        if interaction.approval_ids([m]) and (release_id is None or release_id in json.dumps(m.get("blocks")))
    ]


def click(
    cloud: LocalCloud, release_id: str, decision: interaction.Decision = "approve", user: str = "U0APPROVER1"
) -> int:
    return click_latest(cloud, decision, user, response_id=f"click-{user}", timeout=30, release_id=release_id)


# ---------------------------------------------------------------------------------------------- retry (gap 5)
def test_a_release_that_failed_in_staging_is_retried_as_attempt_two_through_every_environment(
    local_cloud_factory: Callable[..., LocalCloud], capsys: pytest.CaptureFixture[str]
) -> None:
    cloud = local_cloud_factory(fail_deployments=["staging"])
    first = cloud.push_image().release_ids["web-app"]
    assert cloud.wait_for_execution(first, timeout=60)["status"] == "FAILED"

    cloud.fail_deployments.clear()  # the flaky health check passes now
    os.environ[FAIL_ENV_VAR] = ""  # the cloud set it from fail_deployments, and restores the environment on stop
    table = cloud.world.table_names["AuditTable"]
    retry = ["retry", "web-app", first, "--state-machine-arn", cloud.state_machine_arn, "--audit-table", table]
    assert main(retry) == 0
    second = f"{first}-a2"
    assert second in capsys.readouterr().out
    assert click(cloud, second) == 200
    final = cloud.wait_for_execution(second, timeout=60)
    assert final["status"] == "SUCCEEDED", cloud.execution_history(second)[-3:]
    # Attempt 2 deployed staging again itself: production was promoted on attempt 2's own staging result.
    staging = audit(cloud).environment_result(second, "staging")
    assert staging is not None and staging.status == "SUCCEEDED"
    assert audit(cloud).environment_result(first, "staging").status == "FAILED"  # type: ignore[union-attr]

    assert main(["history", "web-app", "--audit-table", table, "--json"]) == 0
    history = {h["release_id"]: h for h in json.loads(capsys.readouterr().out)}
    assert (history[first]["attempt"], history[first]["retried_by"], history[first]["status"]) == (1, second, "FAILED")
    assert (history[second]["attempt"], history[second]["retry_of"], history[second]["status"]) == (
        2,
        first,
        "SUCCEEDED",
    )
    assert main(retry) == 2  # attempt 2 succeeded: nothing to retry
    assert "nothing to retry" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- Slack outage (gap 7)
def test_an_approval_waits_through_a_slack_outage_and_is_posted_when_slack_is_back(
    local_cloud_factory: Callable[..., LocalCloud],
) -> None:
    # Retry intervals at 2 % of their length: 0.2 s, 0.4 s, 0.8 s, ... (on AWS: 10 s doubling to 5 minutes).
    cloud = local_cloud_factory(time_scale=0.02)
    cloud.slack.outage = True
    release_id = cloud.push_image().release_ids["web-app"]
    cloud.wait_for(
        lambda: cloud.lambda_invocations.get("RequestApprovalFunction", 0) >= 3, 60, "RequestApproval to be retried"
    )
    assert cloud.describe_execution(release_id)["status"] == "RUNNING"  # type: ignore[index]
    assert cloud.slack.refused["chat.postMessage"] >= 3
    cloud.slack.outage = False  # Slack is back

    assert click(cloud, release_id) == 200
    final = cloud.wait_for_execution(release_id, timeout=60)
    assert final["status"] == "SUCCEEDED", cloud.execution_history(release_id)[-3:]
    history = json.dumps(cloud.execution_history(release_id), default=str)
    assert "SlackUnavailable" in history
    assert len(approval_messages(cloud, release_id)) == 1  # posted once, when Slack was back


# ---------------------------------------------------------------------------------------------- pusher rule (gap 1)
@pytest.fixture
def people_config(tmp_path: Path) -> Path:
    """config/ with alice (an IAM user) mapped to U0APPROVER1, who approves production."""
    folder = tmp_path / "config"
    shutil.copytree(CONFIG, folder)
    (folder / "people.yaml").write_text(
        "people:\n  - slack_user: U0APPROVER1\n    aws_principals: [arn:aws:iam::123456789012:user/alice]\n"
        "automation: [arn:aws:iam::123456789012:role/codepipeline-role]\n"
    )
    return folder


def test_the_pusher_cloudtrail_names_may_not_approve_and_an_unknown_pusher_needs_one_more_approver(
    local_cloud_factory: Callable[..., LocalCloud], people_config: Path
) -> None:
    cloud = local_cloud_factory(config_dir=people_config)

    by_alice = cloud.push_image(pusher="arn:aws:iam::123456789012:user/alice").release_ids["web-app"]
    assert click(cloud, by_alice, user="U0APPROVER1") == 200
    refused = [r for r in cloud.slack.responses() if r["response_id"] == "click-U0APPROVER1"]
    assert any("you pushed this image" in str(r.get("text")) for r in refused)
    assert cloud.describe_execution(by_alice)["status"] == "RUNNING"  # type: ignore[index]
    assert click(cloud, by_alice, user="U0APPROVER2") == 200
    assert cloud.wait_for_execution(by_alice, timeout=60)["status"] == "SUCCEEDED"
    assert audit(cloud).release(by_alice).pushed_by_users == ["U0APPROVER1"]  # type: ignore[union-attr]

    by_nobody = cloud.push_image(pusher="arn:aws:sts::123456789012:assumed-role/deployer/bob").release_ids["web-app"]
    [message] = cloud.wait_for(lambda: approval_messages(cloud, by_nobody), 30, "the second approval")
    assert "one more distinct approver is required: 2 instead of 1" in json.dumps(message["blocks"])
    assert click(cloud, by_nobody, user="U0APPROVER1") == 200
    assert cloud.describe_execution(by_nobody)["status"] == "RUNNING"  # type: ignore[index]
    assert click(cloud, by_nobody, user="U0APPROVER2") == 200
    assert cloud.wait_for_execution(by_nobody, timeout=60)["status"] == "SUCCEEDED"


# ---------------------------------------------------------------------------------------------- the fault mode
def test_the_fault_mode_fails_the_handlers_aws_calls_and_never_the_harnesss(
    local_cloud_factory: Callable[..., LocalCloud],
) -> None:
    faults = AwsFaults(rate=1.0, seed=1)
    cloud = local_cloud_factory(aws_faults=faults)
    pushed = cloud.push_image()  # the harness's own calls (ECR PutImage, EventBridge PutEvents) go through
    cloud.wait_for(lambda: len(cloud.async_errors) >= 2, 30, "the ECR push function to give up on both events")
    assert {e["error"]["errorType"] for e in cloud.async_errors} == {"TransientError"}
    assert faults.total >= 6  # both events, three tries each
    # The function's own calls (its config in S3, its writes, StartExecution); ECR's and EventBridge's were the
    # harness's, and moto's Step Functions interpreter is untouched.
    services = {call.split(".")[0] for call in faults.injected}
    assert services <= {"s3", "dynamodb", "stepfunctions"} and services
    assert cloud.describe_execution(pushed.release_ids["web-app"]) is None
