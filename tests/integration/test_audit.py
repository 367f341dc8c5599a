"""The audit trail on moto DynamoDB (AuditTable schema from template.yaml): history, status and DORA read back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.support.clock import Clock
from tests.support.world import moto_table

from slipway.adapters.audit import AuditLog
from slipway.models.records import AuditEvent, AuditKind, ReleaseRecord
from slipway.models.release import Release, release_id_for
from slipway_dev.cli import main
from slipway_dev.cli.audit_table import CliError, resolve_table
from slipway_dev.cli.status import describe_wait

pytestmark = pytest.mark.integration

TABLE = "slipway-audit-test"
PIPELINE = "web-app"
ENVS = ["staging", "production"]
# A fixed "now" for the scripted series; the CLI gets the same instant through --now.
NOW = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)


def make_release(n: int, *, pipeline: str = PIPELINE, pushed_at: datetime | None = None) -> Release:
    digest = "sha256:" + hashlib.sha256(f"{pipeline}-{n}".encode()).hexdigest()
    return Release(
        release_id=release_id_for(pipeline, digest),
        pipeline=pipeline,
        registry="123456789012.dkr.ecr.eu-west-2.amazonaws.com",
        repository="app-images",
        digest=digest,
        tags=[f"v1.{n}"],
        commit=f"{n:07d}abcdef",
        pushed_at=pushed_at,
    )


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with moto_table("AuditTable", TABLE) as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW - timedelta(days=20))


@pytest.fixture
def audit(dynamodb: Any, clock: Clock) -> AuditLog:
    return AuditLog(dynamodb, TABLE, clock=clock)


def run_release(
    audit: AuditLog,
    clock: Clock,
    release: Release,
    outcomes: dict[str, tuple[str, timedelta]],
    final: str | None,
    cause: str | None = None,
    approved_by: str | None = None,
) -> None:
    """Write the records a release writes, advancing the clock: env -> (status, time since the release start);
    ``approved_by`` approves production's plan."""
    start = clock.now
    audit.release_started(release, ENVS)
    for env, (status, after) in outcomes.items():
        clock.now = start + after - timedelta(minutes=5)
        audit.event(release.release_id, AuditKind.PLAN, env, plan_hash=f"hash-{env}", task_definition_arn="td:1")
        if approved_by and env == "production":
            decision = {"user": approved_by, "decision": "approve", "at": clock.now.isoformat(), "complete": True}
            audit.event(release.release_id, AuditKind.APPROVAL_DECISION, env, approval_id="a-1", **decision)
        clock.now = start + after
        audit.environment_finished(
            release,
            env,
            status,
            plan_hash=f"hash-{env}",
            task_definition_arn=f"arn:aws:ecs:eu-west-2:123456789012:task-definition/web-app-{env}:7",
            deployment_id=f"d-{env.upper()[:4]}{release.tags[0]}",
        )
    if final:
        audit.release_finished(release.release_id, final, cause)


def script_series(audit: AuditLog, clock: Clock) -> dict[str, Release]:
    """Day 0: success; day 3: production fails; 2 h later the fix restores it; day 5: rejected; day 8: success.

    Hand-computed (window 30 days ending NOW): 3 production successes, 1 failure, CFR 1/4; lead times
    (push -> production success) 2 h, 1 h, 1 h 30 m -> median 1 h 30 m; restore = 2 h; statuses per release.
    """
    base = clock.now
    releases = {}
    clock.now = base
    releases["ok1"] = make_release(1, pushed_at=base - timedelta(minutes=30))
    run_release(
        audit,
        clock,
        releases["ok1"],
        {"staging": ("SUCCEEDED", timedelta(minutes=30)), "production": ("SUCCEEDED", timedelta(minutes=90))},
        "SUCCEEDED",
        approved_by="U0APPROVER1",
    )
    clock.now = base + timedelta(days=3)
    releases["bad"] = make_release(2, pushed_at=clock.now)
    run_release(
        audit,
        clock,
        releases["bad"],
        {"staging": ("SUCCEEDED", timedelta(minutes=20)), "production": ("FAILED", timedelta(minutes=60))},
        "FAILED",
        "DeploymentFailed: rolled back",
    )
    failed_at = clock.now
    clock.now = failed_at + timedelta(hours=1)
    releases["fix"] = make_release(3, pushed_at=clock.now)
    run_release(
        audit,
        clock,
        releases["fix"],
        {"staging": ("SUCCEEDED", timedelta(minutes=20)), "production": ("SUCCEEDED", timedelta(minutes=60))},
        "SUCCEEDED",
    )
    clock.now = base + timedelta(days=5)
    releases["rejected"] = make_release(4, pushed_at=clock.now)
    run_release(
        audit, clock, releases["rejected"], {"staging": ("SUCCEEDED", timedelta(minutes=20))}, "REJECTED", "Rejected"
    )
    clock.now = base + timedelta(days=8)
    releases["ok2"] = make_release(5, pushed_at=clock.now)
    run_release(
        audit,
        clock,
        releases["ok2"],
        {"staging": ("SUCCEEDED", timedelta(minutes=30)), "production": ("SUCCEEDED", timedelta(minutes=90))},
        "SUCCEEDED",
    )
    # one release still waiting for its production approval
    clock.now = base + timedelta(days=9)
    releases["waiting"] = make_release(6, pushed_at=clock.now)
    run_release(audit, clock, releases["waiting"], {"staging": ("SUCCEEDED", timedelta(minutes=20))}, None)
    clock.now += timedelta(minutes=5)
    audit.event(
        releases["waiting"].release_id,
        AuditKind.APPROVAL_REQUESTED,
        "production",
        approvers=["U0APPROVER1", "S0OPS"],
        channel="#deploys",
        plan_hash="hash-production",
    )
    return releases


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert main([*argv, "--json", "--audit-table", TABLE]) == 0
    return json.loads(capsys.readouterr().out)


def test_history_lists_releases_newest_first_with_outcomes(
    audit: AuditLog, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    releases = script_series(audit, clock)
    rows = cli_json(capsys, "history", PIPELINE)
    order = ["waiting", "ok2", "rejected", "fix", "bad", "ok1"]
    assert [r["release_id"] for r in rows] == [releases[k].release_id for k in order]
    by_id = {r["release_id"]: r for r in rows}
    bad = by_id[releases["bad"].release_id]
    assert bad["status"] == "FAILED"
    assert bad["cause"] == "DeploymentFailed: rolled back"
    assert bad["results"]["production"]["status"] == "FAILED"
    assert bad["results"]["staging"]["plan_hash"] == "hash-staging"
    assert bad["release"]["tags"] == ["v1.2"]
    assert not {"pk", "sk", "gsi1pk", "gsi1sk"} & set(bad)  # records, not raw items
    assert by_id[releases["waiting"].release_id]["status"] == "RUNNING"
    ok1 = by_id[releases["ok1"].release_id]
    assert [(a["user"], a["decision"], a["environment"]) for a in ok1["approvals"]] == [
        ("U0APPROVER1", "approve", "production")
    ]
    assert ok1["approvals"][0]["at"] == next(e["at"] for e in ok1["events"] if e["kind"] == "approval_decision")
    assert bad["approvals"] == []

    limited = cli_json(capsys, "history", PIPELINE, "--env", "production", "--limit", "2")
    assert [r["release_id"] for r in limited] == [releases["waiting"].release_id, releases["ok2"].release_id]


def test_history_of_one_release_has_every_event(
    audit: AuditLog, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    releases = script_series(audit, clock)
    detail = cli_json(capsys, "history", PIPELINE, "--release", releases["waiting"].release_id)
    assert [e["kind"] for e in detail["events"]] == ["plan", "approval_requested"]
    assert detail["events"][1]["data"]["approvers"] == ["U0APPROVER1", "S0OPS"]
    assert set(detail["results"]) == {"staging"}
    assert main(["history", PIPELINE, "--release", "nope", "--audit-table", TABLE]) == 2
    assert "no release 'nope'" in capsys.readouterr().err


def test_status_shows_what_is_in_flight_and_waiting_for_whom(
    audit: AuditLog, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    releases = script_series(audit, clock)
    rows = cli_json(capsys, "status")
    assert len(rows) == 1  # finished releases left the in-flight index
    row = rows[0]
    assert row["release_id"] == releases["waiting"].release_id
    assert row["stage"] == "approval"
    assert row["environment"] == "production"
    assert row["waiting_for"] == "U0APPROVER1, S0OPS in #deploys"
    assert row["since"] == clock.now.isoformat()
    assert cli_json(capsys, "status", "other-pipeline") == []

    audit.release_finished(releases["waiting"].release_id, "EXPIRED", "Expired")
    assert cli_json(capsys, "status") == []
    # the in-flight marker is kept (nothing is deleted), only its index keys are gone
    marker = audit._db.get_item(
        TableName=TABLE, Key={"pk": {"S": f"RELEASE#{releases['waiting'].release_id}"}, "sk": {"S": "INFLIGHT"}}
    )["Item"]
    assert "gsi1pk" not in marker
    assert marker["finished_at"]


def test_dora_figures_from_the_audit_trail(audit: AuditLog, clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    script_series(audit, clock)
    figures = cli_json(capsys, "dora", PIPELINE, "--days", "30", "--now", NOW.isoformat())
    assert figures["deployments"] == 3
    assert figures["deployment_frequency_per_day"] == pytest.approx(3 / 30)
    # push -> production success: ok1 30 m before start + 90 m = 2 h; fix 1 h; ok2 1 h 30 m
    assert figures["lead_time_samples"] == 3
    assert figures["lead_time_median_seconds"] == pytest.approx(5400)
    assert figures["lead_time_mean_seconds"] == pytest.approx((7200 + 3600 + 5400) / 3)
    assert figures["production_attempts"] == 4
    assert figures["change_failure_rate"] == pytest.approx(0.25)
    # failed at day 3 + 60 m; fix pushed 1 h later, production 60 m after that: 2 h
    assert figures["restores"] == 1
    assert figures["time_to_restore_median_seconds"] == pytest.approx(7200)
    assert figures["open_incidents"] == 0
    assert figures["release_statuses"] == {"FAILED": 1, "REJECTED": 1, "RUNNING": 1, "SUCCEEDED": 3}

    # a window that starts after the failure and the restore: only ok2
    later = cli_json(capsys, "dora", PIPELINE, "--days", "15", "--now", NOW.isoformat())
    assert later["deployments"] == 1
    assert later["change_failure_rate"] == pytest.approx(0.0)


def test_terminal_output_renders(
    audit: AuditLog, clock: Clock, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # a terminal wide enough for every column unwrapped
    releases = script_series(audit, clock)
    for argv, shows in (  # shows: what the output must have (the "approved by" cell of ok1, ...)
        (["history", PIPELINE], "│ production: U0APPROVER1 "),
        (["history", PIPELINE, "--env", "production"], "│ U0APPROVER1 "),
        (["history", PIPELINE, "--release", releases["bad"].release_id], "DeploymentFailed: rolled back"),
        (["status"], releases["waiting"].release_id),
        (["dora", PIPELINE, "--now", NOW.isoformat()], ""),
    ):
        capsys.readouterr()
        assert main([*argv, "--audit-table", TABLE]) == 0
        out = capsys.readouterr().out
        assert out.strip(), argv
        assert shows in out, argv
    assert main(["history", "nothing-here", "--audit-table", TABLE]) == 2  # ./config has no such pipeline
    assert "unknown pipeline 'nothing-here' (pipelines in config: api, web-app)" in capsys.readouterr().err


def test_release_started_twice_keeps_the_first_record(audit: AuditLog, clock: Clock) -> None:
    release = make_release(9)
    audit.release_started(release, ENVS)
    first = audit.release(release.release_id)
    clock.now += timedelta(minutes=1)
    audit.release_started(release, ENVS)
    assert audit.release(release.release_id) == first
    assert [r.release_id for r, _ in audit.in_flight()] == [release.release_id]


def test_table_name_resolution_order(tmp_path: Path) -> None:
    state = tmp_path / ".slipway"
    state.mkdir()
    (state / "local.json").write_text(json.dumps({"audit_table": "from-file", "endpoint_url": "http://127.0.0.1:1"}))
    env = {"SLIPWAY_AUDIT_TABLE": "from-env"}
    assert resolve_table("explicit", env, tmp_path) == ("explicit", None)
    assert resolve_table(None, env, tmp_path) == ("from-env", None)
    assert resolve_table(None, {}, tmp_path) == ("from-file", "http://127.0.0.1:1")
    with pytest.raises(CliError, match="no audit table"):
        resolve_table(None, {}, tmp_path / "elsewhere")
    (state / "local.json").write_text(json.dumps({"tables": {"AuditTable": "t"}, "aws_endpoint": "http://x"}))
    assert resolve_table(None, {}, tmp_path) == ("t", "http://x")
    (state / "local.json").write_text("{}")
    with pytest.raises(CliError, match="no audit_table key"):
        resolve_table(None, {}, tmp_path)


def test_table_name_comes_from_local_json_in_slipway_local_dir(tmp_path: Path) -> None:
    """`slipway local up --state-dir DIR` writes DIR/local.json; with SLIPWAY_LOCAL_DIR=DIR history finds it."""
    state_dir = tmp_path / "elsewhere"
    state_dir.mkdir()
    (state_dir / "local.json").write_text(json.dumps({"tables": {"AuditTable": "t"}, "aws_endpoint": "http://x"}))
    with pytest.raises(CliError, match="no audit table"):
        resolve_table(None, {}, tmp_path)  # not in ./.slipway
    assert resolve_table(None, {"SLIPWAY_LOCAL_DIR": str(state_dir)}, tmp_path) == ("t", "http://x")
    assert resolve_table(None, {"SLIPWAY_LOCAL_DIR": "elsewhere"}, tmp_path) == ("t", "http://x")  # relative
    (state_dir / "local.json").write_text("not json")
    with pytest.raises(CliError, match="not valid JSON"):
        resolve_table(None, {"SLIPWAY_LOCAL_DIR": str(state_dir)}, tmp_path)


def test_history_honours_slipway_local_dir(
    dynamodb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "local.json").write_text(json.dumps({"tables": {"AuditTable": TABLE}}))
    monkeypatch.chdir(tmp_path.parent)
    monkeypatch.delenv("SLIPWAY_AUDIT_TABLE", raising=False)
    monkeypatch.setenv("SLIPWAY_LOCAL_DIR", str(tmp_path))
    for argv in (["history", PIPELINE, "--json"], ["status", "--json"], ["dora", PIPELINE, "--json"]):
        assert main(argv) == 0, capsys.readouterr().err
        json.loads(capsys.readouterr().out)


def test_missing_table_is_a_clear_error(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", PIPELINE, "--audit-table", "no-such-table"]) == 1
    assert "cannot read the audit table" in capsys.readouterr().err


def test_bad_arguments_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["history", PIPELINE, "--limit", "0"])
    assert "must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["dora", PIPELINE, "--now", "yesterday"])
    assert "not an ISO 8601 time" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kind", "data", "stage", "waiting"),
    [
        (AuditKind.DEPLOYMENT_STARTED, {"deployment_id": "d-ABC"}, "deploying", "deployment d-ABC"),
        (
            AuditKind.APPROVAL_REQUESTED,
            {"required": 2, "channel": "C0DEPLOYS", "expires": "2024-01-02T00:00:00+00:00"},
            "approval",
            "2 approval(s) in C0DEPLOYS until 2024-01-02 00:00:00",
        ),
        (None, {}, "starting", "the first environment"),
    ],
)
def test_describe_wait(kind: AuditKind | None, data: dict[str, Any], stage: str, waiting: str) -> None:
    release = make_release(1)
    record = ReleaseRecord(release.release_id, PIPELINE, "RUNNING", "2024-01-01T00:00:00+00:00", ENVS, release)
    event = AuditEvent(release.release_id, kind, "2024-01-01T00:01:00+00:00", "production", data) if kind else None
    described = describe_wait(record, event)
    assert (described["stage"], described["waiting_for"]) == (stage, waiting)
