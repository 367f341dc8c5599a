"""Many pipelines released at once through the real state machine and handlers: the bench's `concurrent_releases`
scenario (bench/concurrency.py) at 5 pipelines, so the suite stays fast; `make bench` runs it at 50."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from bench.concurrency import run_concurrent_releases
from bench.generated import generate_config, pipeline_name

from slipway_dev.local.cloud import LocalCloud

pytestmark = pytest.mark.e2e
PIPELINES = 5


def test_pipelines_pushed_at_once_all_release_without_waiting_on_each_others_locks(
    local_cloud_factory: Callable[..., LocalCloud], tmp_path: Path
) -> None:
    cloud = local_cloud_factory(config_dir=generate_config(tmp_path, PIPELINES), codedeploy_delay=0.2)

    result = run_concurrent_releases(cloud, [pipeline_name(n) for n in range(PIPELINES)], timeout=180)

    assert result["started"] == PIPELINES
    assert result["succeeded"] == PIPELINES
    assert result["locks_held_after"] == 0
    assert result["lock_waits"] == 0
    # Each release deployed its own pipeline's staging and production, once each.
    deployed = Counter(str(d.get("description")).split()[1] for d in cloud.deployments())
    assert len(deployed) == PIPELINES and set(deployed.values()) == {2}
    assert result["p95_event_to_start_execution_ms"] > 0 and result["wall_seconds"] > 0
