"""The fault-injection figure of `make bench`: releases through the embedded local cloud while a seeded share of the
handlers' AWS calls fail (throttling or 5xx, after the SDK's retries: ``slipway_dev.local.faults.AwsFaults``) and a
share of the fake Slack's calls fail or time out (``SlackFaults``).

Releases run in lanes (one pipeline and repository per lane, one release at a time in each), and take turns at
approve, reject and fail-staging. A person approves or rejects as a person would: click the newest approval message
of the release, and click again while the click did not get through (an HTTP error, a decision not delivered).
Each figure is read back from the cloud afterwards, not assumed:

- ``ended_as_expected``: the release's outcome (execution status; a stopped release's ``finalized.outcome``) is the
  one its scenario has without faults: approve -> SUCCEEDED, reject -> REJECTED, fail-staging -> FAILED;
- ``duplicate_deployments``: (release, environment, attempt) with more than one CodeDeploy deployment (each
  deployment's description names them);
- ``stuck_executions``: executions still RUNNING once every lane has finished and a grace period has passed;
- ``lost_audit_rows``: finished releases whose audit record lacks the final status, or an ``ENV#`` row for an
  environment CodeDeploy deployed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from slipway.adapters.approval_store import ApprovalStore
from slipway.adapters.audit import AuditLog
from slipway_dev.local import interaction
from slipway_dev.local.cloud import LocalCloud
from slipway_dev.local.fake_slack import SlackFaults
from slipway_dev.local.faults import AwsFaults

ROOT = Path(__file__).resolve().parents[1]
RELEASES = 54
LANES = 3
RATE = 0.05
SEED = 14
SCENARIOS = ("approve", "reject", "fail-staging")
EXPECTED = {"approve": "SUCCEEDED", "reject": "REJECTED", "fail-staging": "FAILED"}
RELEASE_TIMEOUT = 240.0
GRACE_SECONDS = 90.0
APPROVER = "U0APPROVER1"
UNEXPECTED: list[str] = []  # what ended otherwise, and why (printed by `python -m bench.faults`)


def bench_config(folder: Path, lanes: int) -> Path:
    """config/ with the example pipeline copied once per lane (``lane-N``), and once with a failing staging
    deployment group (``lane-N-fail``: the local CodeDeploy fails a group whose name says "fail"). Deployment waits
    of one minute: a CodeDeploy event lost to faults is recovered by the timeout check within that minute."""
    config = folder / "config"
    shutil.copytree(ROOT / "config", config)
    example = yaml.safe_load((config / "pipelines" / "web-app.yaml").read_text())
    for path in (config / "pipelines").glob("*.yaml"):  # only the lanes' pipelines stay
        path.unlink()
    for lane in range(lanes):
        for suffix in ("", "-fail"):
            name = f"lane-{lane}{suffix}"
            pipeline = yaml.safe_load(yaml.safe_dump(example))
            pipeline.update(name=name, repository=name, concurrency="queue")
            for env in pipeline["environments"]:
                env["cluster"] = f"{name}-{env['name']}-cluster"
                env["service"] = f"{name}-{env['name']}-service"
                env["deployment"]["deployment_group"] = f"{name}-{env['name']}"
                env["deployment"]["wait_timeout_minutes"] = 1
            (config / "pipelines" / f"{name}.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return config


def _approval_ids(cloud: LocalCloud, release_id: str) -> list[str]:
    return interaction.approval_ids([m for m in cloud.slack_messages if release_id in str(m.get("blocks"))])


def decide(cloud: LocalCloud, release_id: str, decision: interaction.Decision, deadline: float) -> int:
    """Click until the decision has reached the release; returns the number of clicks."""
    store = ApprovalStore(cloud.client("dynamodb"), cloud.world.table_names["StateTable"])
    clicks = 0
    while time.monotonic() < deadline:
        execution = cloud.describe_execution(release_id)
        if execution is not None and execution["status"] != "RUNNING":
            return clicks
        ids = _approval_ids(cloud, release_id)
        record = store.get(ids[-1]) if ids else None
        if record is not None and record.status in ("APPROVED", "REJECTED") and record.task_completed_at:
            return clicks
        # Pending: click. Decided but not delivered: clicking again sends it. A 500 or a timeout: click again.
        if record is not None and record.status in ("PENDING", "APPROVED", "REJECTED"):
            clicks += 1
            with contextlib.suppress(OSError):  # the gateway timed out: a person clicks again
                interaction.click(
                    messages=cloud.slack_messages,
                    approval_id=record.approval_id,
                    decision=decision,
                    user_id=APPROVER,
                    interactivity_url=cloud.interactivity_url,
                    signing_secret=cloud.signing_secret,
                    response_url=cloud.slack.response_url(f"bench-{release_id}"),
                    timeout=15,
                )
        time.sleep(0.2)
    return clicks


def run_lane(cloud: LocalCloud, lane: int, count: int, outcomes: dict[str, tuple[str, str, str]]) -> None:
    for n in range(count):
        scenario = SCENARIOS[(lane + n) % len(SCENARIOS)]
        pipeline = f"lane-{lane}-fail" if scenario == "fail-staging" else f"lane-{lane}"
        pushed = cloud.push_image(repository=pipeline, seed=f"bench-{lane}-{n}")
        release_id = pushed.release_ids[pipeline]
        deadline = time.monotonic() + RELEASE_TIMEOUT
        if scenario != "fail-staging":
            decide(cloud, release_id, "approve" if scenario == "approve" else "reject", deadline)
        with contextlib.suppress(TimeoutError):  # counted as stuck below
            cloud.wait_for_execution(release_id, timeout=max(deadline - time.monotonic(), 1.0))
        outcomes[release_id] = (pipeline, scenario, EXPECTED[scenario])


def outcome_of(execution: dict[str, Any] | None) -> str:
    if execution is None:
        return "NOT_STARTED"
    if execution["status"] == "SUCCEEDED":
        finalized = (json.loads(execution.get("output") or "{}").get("finalized") or {}).get("outcome") or {}
        return str(finalized.get("status") or "SUCCEEDED")
    return str(execution["status"])


def figures(cloud: LocalCloud, outcomes: dict[str, tuple[str, str, str]]) -> dict[str, int]:
    audit = AuditLog(cloud.client("dynamodb"), cloud.world.table_names["AuditTable"])
    deployments = Counter(str(d.get("description")) for d in cloud.deployments())
    deployed: dict[str, set[str]] = {}
    for description in deployments:
        # "slipway <release_id> -> <environment>"
        parts = description.split()
        if len(parts) == 4 and parts[0] == "slipway":
            deployed.setdefault(parts[1], set()).add(parts[3])
    ended_as_expected = stuck = lost = 0
    for release_id, (_, scenario, expected) in outcomes.items():
        execution = cloud.describe_execution(release_id)
        status = outcome_of(execution)
        ended_as_expected += status == expected
        if status != expected:
            cause = (execution or {}).get("cause") or (execution or {}).get("output")
            UNEXPECTED.append(f"{release_id} ({scenario}): {status}, expected {expected}: {str(cause)[:300]}")
        if execution is None or execution["status"] == "RUNNING":
            stuck += 1
            continue
        record = audit.release(release_id)
        results = audit.environment_results(release_id)
        if record is None or record.status != status or not deployed.get(release_id, set()) <= set(results):
            lost += 1
    return {
        "releases": len(outcomes),
        "ended_as_expected": ended_as_expected,
        "duplicate_deployments": sum(1 for n in deployments.values() if n > 1),
        "stuck_executions": stuck,
        "lost_audit_rows": lost,
    }


def measure_fault_injection(releases: int = RELEASES, lanes: int = LANES, rate: float = RATE) -> dict[str, Any]:
    # slack_sdk logs each failed request at ERROR on a logger of its own: every injected Slack fault would print one.
    logging.getLogger("slipway.slack_sdk").setLevel(logging.CRITICAL)
    aws_faults = AwsFaults(rate=rate, seed=SEED)
    slack_faults = SlackFaults(rate=rate, seed=SEED)
    with tempfile.TemporaryDirectory() as folder:
        config = bench_config(Path(folder), lanes)
        started = time.perf_counter()
        with LocalCloud(
            config_dir=config,
            codedeploy_delay=0.5,
            time_scale=0.01,
            log_level="CRITICAL",
            aws_faults=aws_faults,
            slack_faults=slack_faults,
        ) as cloud:
            outcomes: dict[str, tuple[str, str, str]] = {}
            per_lane = [releases // lanes + (1 if lane < releases % lanes else 0) for lane in range(lanes)]
            threads = [
                threading.Thread(target=run_lane, args=(cloud, lane, per_lane[lane], outcomes), name=f"lane-{lane}")
                for lane in range(lanes)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            grace = time.monotonic() + GRACE_SECONDS
            while time.monotonic() < grace and any(
                (cloud.describe_execution(r) or {}).get("status") == "RUNNING" for r in outcomes
            ):
                time.sleep(1)
            aws_faults.enabled = False
            result = figures(cloud, outcomes)
        seconds = time.perf_counter() - started
    result["faults_injected"] = aws_faults.total + slack_faults.total
    setup = {
        "rate": rate,
        "seed": SEED,
        "lanes": lanes,
        "aws_calls": aws_faults.calls,
        "aws_faults": aws_faults.total,
        "slack_calls": slack_faults.calls,
        "slack_faults": slack_faults.total,
        "aws_faults_by_call": dict(sorted(aws_faults.injected.items())),
        "slack_faults_by_call": dict(sorted(slack_faults.injected.items())),
        "seconds": round(seconds, 1),
    }
    keys = ("releases", "faults_injected", "ended_as_expected", "duplicate_deployments", "stuck_executions")
    return {"fault_injection": {k: result[k] for k in (*keys, "lost_audit_rows")}, "fault_injection_setup": setup}


if __name__ == "__main__":  # `python -m bench.faults [RELEASES]`: this figure alone, and what went otherwise
    import sys

    print(json.dumps(measure_fault_injection(int(sys.argv[1]) if len(sys.argv) > 1 else RELEASES), indent=2))
    print("\n".join(UNEXPECTED))
