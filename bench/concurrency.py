"""The `concurrent_releases` figure of `make bench`: many pipelines pushed at once on one embedded local cloud.

A generated config (``bench.generated``: one pipeline and ECR repository per service, staging then production
behind a Slack approval) is loaded by a local cloud; one image per pipeline is pushed from as many threads, released
together by a barrier (ECR's push event and CloudTrail's PutImage record, through EventBridge). One approver clicks
Approve on each approval message as it arrives (a signed Slack request through the local HTTP API). Read back
afterwards, from the cloud:

- ``started``: executions that exist for the pushed releases; ``succeeded``: those whose release succeeded;
- ``p95_event_to_start_execution_ms``: from the push to the execution's ``startDate``, 95th percentile;
- ``wall_seconds``: from the first push to the last release's end;
- ``locks_held_after``: ``LOCK#`` items left in the state table once every release has ended;
- ``lock_waits``: ``LockBusy`` failures in the executions' histories (a release waiting on a lock); with one
  pipeline per service, any would be a release waiting on another pipeline's lock.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.generated import generate_config, pipeline_name
from slipway.adapters import keys
from slipway_dev.local import interaction
from slipway_dev.local.cloud import LocalCloud

PIPELINES = 50
APPROVER = "U0APPROVER1"
TIMEOUT_SECONDS = 600.0
POLL_SECONDS = 0.3


def _push_all(cloud: LocalCloud, pipelines: list[str]) -> dict[str, tuple[str, float]]:
    """pipeline -> (release id, wall time of its push), every push released at once."""
    barrier = threading.Barrier(len(pipelines))
    pushed: dict[str, tuple[str, float]] = {}
    failures: list[BaseException] = []

    def push(name: str) -> None:
        try:
            barrier.wait()
            at = time.time()
            image = cloud.push_image(repository=name, seed=f"concurrent-{name}")
            pushed[name] = (image.release_ids[name], at)
        except BaseException as exc:  # re-raised below, in the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=push, args=(name,), name=f"push-{name}") for name in pipelines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} pushes failed; the first: {failures[0]!r}")
    return pushed


def _statuses(cloud: LocalCloud) -> dict[str, dict[str, Any]]:
    """Every execution of the release state machine, by name (one paginated call, not one per release)."""
    paginator = cloud.client("stepfunctions").get_paginator("list_executions")
    return {
        e["name"]: e for page in paginator.paginate(stateMachineArn=cloud.state_machine_arn) for e in page["executions"]
    }


def _approve_until_ended(cloud: LocalCloud, release_ids: set[str], timeout: float) -> dict[str, float]:
    """Click Approve on each release's approval message once it is posted; release id -> wall time it ended."""
    clicked: set[str] = set()
    ended: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(ended) < len(release_ids) and time.monotonic() < deadline:
        messages = cloud.slack_messages
        for release_id in sorted(release_ids - clicked - set(ended)):
            ids = interaction.approval_ids([m for m in messages if release_id in str(m.get("blocks"))])
            if ids:
                interaction.click(
                    messages=messages,
                    approval_id=ids[-1],
                    decision="approve",
                    user_id=APPROVER,
                    interactivity_url=cloud.interactivity_url,
                    signing_secret=cloud.signing_secret,
                    response_url=cloud.slack.response_url(f"concurrent-{release_id}"),
                )
                clicked.add(release_id)
        for name, execution in _statuses(cloud).items():
            if name in release_ids and name not in ended and execution["status"] != "RUNNING":
                ended[name] = execution["stopDate"].timestamp()
        time.sleep(POLL_SECONDS)
    return ended


def _released(execution: dict[str, Any]) -> bool:
    """The release succeeded (an execution that SUCCEEDED may have finalized a rejected or failed release)."""
    finalized = (json.loads(execution.get("output") or "{}").get("finalized") or {}).get("outcome") or {}
    return execution["status"] == "SUCCEEDED" and finalized.get("status", "SUCCEEDED") == "SUCCEEDED"


def _locks_left(cloud: LocalCloud) -> int:
    table = cloud.world.table_names["StateTable"]
    paginator = cloud.client("dynamodb").get_paginator("scan")
    return sum(
        1 for page in paginator.paginate(TableName=table) for item in page["Items"] if item["sk"]["S"] == keys.LOCK_SK
    )


def _lock_waits(cloud: LocalCloud, release_ids: set[str]) -> int:
    return sum(
        1 for release_id in release_ids for event in cloud.execution_history(release_id) if "LockBusy" in str(event)
    )


def warm_up(cloud: LocalCloud, pipeline: str, timeout: float = TIMEOUT_SECONDS) -> None:
    """One release first, alone: every handler imported and every function's config loaded, as in an organisation
    whose functions are warm (a burst on AWS also starts new execution environments; the local cloud has one)."""
    release_id = cloud.push_image(repository=pipeline, seed=f"warm-up-{pipeline}").release_ids[pipeline]
    _approve_until_ended(cloud, {release_id}, timeout)


def run_concurrent_releases(
    cloud: LocalCloud, pipelines: list[str], timeout: float = TIMEOUT_SECONDS
) -> dict[str, Any]:
    """Push one image per pipeline at once, approve each release, and read the figures back (module docstring)."""
    started_at = time.time()
    pushed = _push_all(cloud, pipelines)
    release_ids = {release_id for release_id, _ in pushed.values()}
    ended = _approve_until_ended(cloud, release_ids, timeout)
    executions = {name: e for name, e in _statuses(cloud).items() if name in release_ids}
    to_start = sorted(
        (executions[release_id]["startDate"].timestamp() - at) * 1000
        for release_id, at in pushed.values()
        if release_id in executions
    )
    return {
        "started": len(executions),
        "succeeded": sum(1 for e in executions.values() if _released(cloud.describe_execution(e["name"]) or e)),
        "p95_event_to_start_execution_ms": round(statistics.quantiles(to_start, n=20)[-1], 1)
        if len(to_start) > 1
        else round(to_start[0], 1),
        "wall_seconds": round(max(ended.values(), default=time.time()) - started_at, 1),
        "locks_held_after": _locks_left(cloud),
        "lock_waits": _lock_waits(cloud, release_ids),
        "pipelines": len(pipelines),
        "event_to_start_execution_ms": {"median": round(statistics.median(to_start), 1), "max": round(to_start[-1], 1)},
    }


def measure_concurrent_releases(pipelines: int = PIPELINES) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        config = generate_config(Path(folder), pipelines + 1)
        with LocalCloud(config_dir=config, codedeploy_delay=0.5, time_scale=0.0, log_level="CRITICAL") as cloud:
            warm_up(cloud, pipeline_name(pipelines))
            result = run_concurrent_releases(cloud, [pipeline_name(n) for n in range(pipelines)])
    return {"concurrent_releases": result}


if __name__ == "__main__":  # `python -m bench.concurrency [PIPELINES]`: this figure alone
    import sys

    print(json.dumps(measure_concurrent_releases(int(sys.argv[1]) if len(sys.argv) > 1 else PIPELINES), indent=2))
