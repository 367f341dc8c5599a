"""Releases through the local cloud with the real handlers, read back with `slipway history/status/dora`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.e2e.test_local_cloud import real_handlers
from tests.support.clicks import click_latest

from slipway.adapters.audit import AuditLog
from slipway_dev.cli import main
from slipway_dev.local.cloud import LocalCloud

pytestmark = pytest.mark.e2e


def cli_json(capsys: pytest.CaptureFixture[str], table: str, *argv: str) -> Any:
    capsys.readouterr()
    assert main([*argv, "--json", "--audit-table", table]) == 0
    return json.loads(capsys.readouterr().out)


@real_handlers
def test_history_status_and_dora_read_back_real_releases(
    local_cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud = local_cloud
    monkeypatch.setenv("AWS_ENDPOINT_URL", cloud.endpoint)
    table = cloud.world.table_names["AuditTable"]

    shipped = cloud.push_image(seed="shipped").release_ids["web-app"]
    cloud.wait_for(lambda: cloud.slack_messages, 15, "the first Slack message")
    approve_status = cloud.wait_for(
        lambda: [r for r in cli_json(capsys, table, "status") if r["stage"] == "approval"], 15, "approval in status"
    )
    assert approve_status[0]["release_id"] == shipped
    assert approve_status[0]["environment"] == "production"
    assert click_latest(cloud) == 200
    assert cloud.wait_for_execution(shipped, timeout=30)["status"] == "SUCCEEDED"

    rejected = cloud.push_image(seed="rejected").release_ids["web-app"]
    cloud.wait_for(
        lambda: [r for r in cli_json(capsys, table, "status") if r["stage"] == "approval"],
        15,
        "the second release waiting for approval",
    )
    assert click_latest(cloud, "reject") == 200
    cloud.wait_for_execution(rejected, timeout=30)

    assert cli_json(capsys, table, "status") == []
    history = cli_json(capsys, table, "history", "web-app")
    assert [r["release_id"] for r in history] == [rejected, shipped]
    assert [r["status"] for r in history] == ["REJECTED", "SUCCEEDED"]
    assert history[1]["results"]["production"]["status"] == "SUCCEEDED"
    assert history[1]["results"]["production"]["deployment_id"]
    [approval] = history[1]["approvals"]  # the click above, on the production approval
    assert (approval["user"], approval["decision"], approval["environment"]) == ("U0APPROVER1", "approve", "production")
    assert approval["at"]
    assert [(a["user"], a["decision"], a["environment"]) for a in history[0]["approvals"]] == [
        ("U0APPROVER1", "reject", "production")
    ]

    detail = cli_json(capsys, table, "history", "web-app", "--release", shipped)
    kinds = [e["kind"] for e in detail["events"]]
    assert "approval_decision" in kinds
    assert "deployment_started" in kinds

    figures = cli_json(capsys, table, "dora", "web-app", "--days", "1")
    assert figures["deployments"] == 1
    assert figures["production_attempts"] == 1
    assert figures["change_failure_rate"] == 0.0
    assert figures["lead_time_samples"] == 1
    assert figures["release_statuses"] == {"REJECTED": 1, "SUCCEEDED": 1}

    # one Slack thread per release: the parent's ts is in the record, every notice is a reply in it
    audit = AuditLog(cloud.client("dynamodb"), table)
    for release_id in (shipped, rejected):
        record = audit.release(release_id)
        assert record is not None
        thread = record.slack_thread_ts
        assert thread, f"no Slack thread recorded for {release_id}"
        replies = [m for m in cloud.slack_messages if m.get("thread_ts") == thread]
        assert replies
