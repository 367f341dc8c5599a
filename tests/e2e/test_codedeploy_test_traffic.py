"""CodeDeploy with ``approval.stage: after_test_traffic`` through the real state machine in the embedded local cloud:
the deployment group's ready wait holds production once the replacement serves test traffic; CodeDeploy's READY
event asks the approval; approve continues the deployment (ContinueDeployment), reject stops it (StopDeployment),
and nobody deciding lets the wait time out."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tests.e2e.test_release_state_machine import (
    PRODUCTION_GROUP,
    STAGING_GROUP,
    approval_messages,
    audit,
    click,
    deployments,
    locks,
    outcome,
    short_timeouts,
)
from tests.support.paths import CONFIG

from slipway_dev.local.cloud import LocalCloud

pytestmark = pytest.mark.e2e


@pytest.fixture
def ready_wait_cloud(local_cloud_factory: Callable[..., LocalCloud], tmp_path: Path) -> LocalCloud:
    """The example config with web-app's production approved after test traffic (its group holds Ready)."""
    root = tmp_path / "config"
    shutil.copytree(CONFIG, root)
    path = root / "pipelines" / "web-app.yaml"
    data = yaml.safe_load(path.read_text())
    data["environments"][1]["approval"].update(stage="after_test_traffic", test_url="https://test.app.example.com")
    path.write_text(yaml.safe_dump(data))
    return local_cloud_factory(config_dir=root)


def entered(cloud: LocalCloud, release_id: str) -> list[str]:
    history = cloud.execution_history(release_id)
    return [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]


def test_approve_after_test_traffic_continues_the_ready_wait(ready_wait_cloud: LocalCloud) -> None:
    cloud = ready_wait_cloud
    release_id = cloud.push_image().release_ids["web-app"]
    posts = cloud.wait_for(lambda: approval_messages(cloud), 30, "the approval after test traffic")
    assert deployments(cloud)[-1] == (PRODUCTION_GROUP, "Ready")  # the replacement serves test traffic
    assert "https://test.app.example.com" in json.dumps(posts[-1])
    click(cloud, "approve")
    final = cloud.wait_for_execution(release_id, timeout=60)

    assert final["status"] == "SUCCEEDED", cloud.execution_history(release_id)[-3:]
    assert deployments(cloud) == [(STAGING_GROUP, "Succeeded"), (PRODUCTION_GROUP, "Succeeded")]
    assert "RequestApproval" not in entered(cloud, release_id)
    assert cloud.state_transitions(release_id) <= 10
    record = audit(cloud).release(release_id)
    assert record is not None and record.status == "SUCCEEDED"
    assert locks(cloud) == []


def test_reject_after_test_traffic_stops_the_deployment(ready_wait_cloud: LocalCloud) -> None:
    cloud = ready_wait_cloud
    release_id = cloud.push_image().release_ids["web-app"]
    click(cloud, "reject")
    final = cloud.wait_for_execution(release_id, timeout=60)

    assert outcome(final)["status"] == "REJECTED"
    assert deployments(cloud) == [(STAGING_GROUP, "Succeeded"), (PRODUCTION_GROUP, "Stopped")]
    production = audit(cloud).environment_result(release_id, "production")
    assert production is not None and production.status == "FAILED" and "STOPPED" in str(production.cause)
    assert audit(cloud).verified_good("web-app", "production") == []
    assert locks(cloud) == []


def test_an_unanswered_ready_wait_times_out_and_the_release_expires(ready_wait_cloud: LocalCloud) -> None:
    cloud = ready_wait_cloud
    cloud.codedeploy.ready_wait_seconds = 4  # the group's wait, just after the approval's own timeout
    with short_timeouts(approval_seconds=2):
        release_id = cloud.push_image().release_ids["web-app"]
        cloud.wait_for(lambda: approval_messages(cloud), 30, "the approval after test traffic")
        final = cloud.wait_for_execution(release_id, timeout=60)

    assert outcome(final)["status"] == "EXPIRED"
    assert deployments(cloud)[-1] == (PRODUCTION_GROUP, "Stopped")
    assert locks(cloud) == []
