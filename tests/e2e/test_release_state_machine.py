"""statemachine/release.asl.json executed by moto's interpreter with the real handlers, in the embedded local cloud.

CodeDeploy is moved through its states by the local cloud (which emits the state-change events); Slack is the
fake Slack over HTTP, and approvals are signed clicks on the posted messages. Timeouts (approval, deployment
wait) are real Step Functions timeouts: the tests that need one shrink the plan's timeout to a second.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from tests.support.paths import CONFIG

import slipway.domain.release.prepare
from slipway.adapters.audit import AuditLog
from slipway.adapters.aws import CLIENT_CONFIG
from slipway.adapters.pushers import PusherStore
from slipway.models.release import Release, ReleaseInput, release_id_for
from slipway_dev.local import interaction
from slipway_dev.local.base import LOCAL_PUSHER
from slipway_dev.local.cloud import LocalCloud
from slipway_dev.local.events import ecr_put_image_call_event
from slipway_dev.local.images import image_manifest

pytestmark = pytest.mark.e2e

STAGING_GROUP = "codedeploy-deployment-group-staging"
PRODUCTION_GROUP = "codedeploy-deployment-group-production"
# The functions a release invokes (the intake, EcrPushFunction, is not part of a release's cost).
RELEASE_FUNCTIONS = [
    "PrepareEnvironmentFunction",
    "RequestApprovalFunction",
    "SlackInteractionsFunction",
    "StartDeploymentFunction",
    "DeploymentEventsFunction",
    "FinalizeReleaseFunction",
]


# ---------------------------------------------------------------------------------------------- helpers
def audit(cloud: LocalCloud) -> AuditLog:
    return AuditLog(cloud.client("dynamodb"), cloud.world.table_names["AuditTable"])


def start_release(cloud: LocalCloud, seed: str, environments: list[str], pushed_at: str | None = None) -> Release:
    """Push an image and start its release the way the intake does (audit record + StartExecution)."""
    image = cloud.client("ecr").put_image(
        repositoryName="app-images", imageManifest=image_manifest(seed), imageTag=f"{seed:0>40}"[:40]
    )["image"]
    digest = image["imageId"]["imageDigest"]
    release = Release.model_validate(
        {
            "release_id": release_id_for("web-app", digest),
            "pipeline": "web-app",
            "registry": f"{cloud.account}.dkr.ecr.{cloud.region}.amazonaws.com",
            "repository": "app-images",
            "digest": digest,
            "tags": [f"{seed:0>40}"[:40]],
            "pushed_at": pushed_at,
            "source": "cli",
        }
    )
    # Who pushed, as CloudTrail tells the ECR push function (the approval's pusher rule reads it).
    cloud.put_event(ecr_put_image_call_event("app-images", digest, release.tags[0], LOCAL_PUSHER, cloud.region))
    pushers = PusherStore(cloud.client("dynamodb"), cloud.world.table_names["StateTable"])
    cloud.wait_for(lambda: pushers.principals("app-images", digest), 30, "the pusher to be recorded")
    audit(cloud).release_started(release, environments)
    cloud.client("stepfunctions").start_execution(
        stateMachineArn=cloud.state_machine_arn,
        name=release.release_id,
        input=ReleaseInput(release=release, environments=environments).model_dump_json(),
    )
    return release


def approval_messages(cloud: LocalCloud) -> list[dict[str, Any]]:
    return [m for m in cloud.slack_messages if interaction.approval_ids([m])]


def click(cloud: LocalCloud, decision: interaction.Decision = "approve", *, count: int = 1) -> None:
    """Click the newest approval once ``count`` approval messages have been posted."""
    posts = cloud.wait_for(lambda: len(approval_messages(cloud)) >= count and approval_messages(cloud), 20, "approval")
    status, body = interaction.click(
        messages=posts,
        approval_id=interaction.approval_ids(posts)[-1],
        decision=decision,
        user_id="U0APPROVER1",
        interactivity_url=cloud.interactivity_url,
        signing_secret=cloud.signing_secret,
        response_url=cloud.slack.response_url("approval"),
    )
    assert status == 200, body


def outcome(execution: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(execution["output"])["finalized"]["outcome"]
    return result


def deployments(cloud: LocalCloud) -> list[tuple[str, str]]:
    return [(d["deploymentGroupName"], d["status"]) for d in cloud.deployments()]


def locks(cloud: LocalCloud) -> list[dict[str, Any]]:
    items = cloud.client("dynamodb").scan(TableName=cloud.world.table_names["StateTable"])["Items"]
    return [i for i in items if i["pk"]["S"].startswith("LOCK#")]


def release_invocations(cloud: LocalCloud) -> int:
    counts = cloud.lambda_invocations
    return sum(counts.get(name, 0) for name in RELEASE_FUNCTIONS)


def slack_texts(cloud: LocalCloud) -> str:
    return "\n".join(str(m.get("text", "")) for m in cloud.slack_messages)


@contextmanager
def short_timeouts(approval_seconds: int | None = None, deployment_seconds: int | None = None) -> Iterator[None]:
    """Plans with a timeout of a second or two (config allows minutes): real Step Functions timeouts, quickly."""
    original = slipway.domain.release.prepare.make_plan

    def make_plan(**kwargs: Any) -> Any:
        plan = original(**kwargs)
        update = {}
        if approval_seconds is not None:
            update["approval_timeout_seconds"] = approval_seconds
        if deployment_seconds is not None:
            update["deployment_wait_seconds"] = deployment_seconds
        return plan.model_copy(update=update)

    with mock.patch.object(slipway.domain.release.prepare, "make_plan", make_plan):
        yield


# ---------------------------------------------------------------------------------------------- happy path
@pytest.mark.parametrize("bake_seconds", [0.0, 1.5])
def test_happy_path_staging_approval_production_within_budget(
    local_cloud_factory: Callable[..., LocalCloud], bake_seconds: float
) -> None:
    cloud = local_cloud_factory(codedeploy_delay=bake_seconds)
    pushed = cloud.push_image()
    release_id = pushed.release_ids["web-app"]
    click(cloud, "approve")
    final = cloud.wait_for_execution(release_id, timeout=60)

    assert final["status"] == "SUCCEEDED", cloud.execution_history(release_id)[-3:]
    assert deployments(cloud) == [(STAGING_GROUP, "Succeeded"), (PRODUCTION_GROUP, "Succeeded")]
    # The budget, the same whatever the bake time: no polling loop.
    assert cloud.state_transitions(release_id) <= 10
    assert release_invocations(cloud) <= 8
    assert "FinalizeReleaseFunction" not in cloud.lambda_invocations
    # The last environment's deployment event recorded the release and both verified-good revisions.
    record = audit(cloud).release(release_id)
    assert record is not None
    assert record.status == "SUCCEEDED"
    for environment in ("staging", "production"):
        result = audit(cloud).environment_result(release_id, environment)
        assert result is not None
        assert result.status == "SUCCEEDED"
        assert result.digest == pushed.digest
        assert audit(cloud).verified_good("web-app", environment)[0].release_id == release_id
    assert locks(cloud) == []
    assert "SUCCEEDED" in slack_texts(cloud)


# ---------------------------------------------------------------------------------------------- failures
def test_staging_failure_never_reaches_production(local_cloud_factory: Callable[..., LocalCloud]) -> None:
    cloud = local_cloud_factory(fail_deployments=["staging"])
    release_id = cloud.push_image().release_ids["web-app"]
    final = cloud.wait_for_execution(release_id, timeout=60)

    assert final["status"] == "FAILED"
    assert final.get("error") == "ReleaseFailed"
    assert "DeploymentFailed" in final.get("cause", "")
    assert "staging" in final.get("cause", "")
    assert deployments(cloud) == [(STAGING_GROUP, "Failed")]
    assert approval_messages(cloud) == []
    record = audit(cloud).release(release_id)
    assert record is not None
    assert record.status == "FAILED"
    staging = audit(cloud).environment_result(release_id, "staging")
    assert staging is not None
    assert staging.status == "FAILED"
    assert audit(cloud).verified_good("web-app", "staging") == []
    assert locks(cloud) == []
    assert "FAILED" in slack_texts(cloud)


def test_rejection_ends_rejected_and_production_is_untouched(local_cloud: LocalCloud) -> None:
    cloud = local_cloud
    release_id = cloud.push_image().release_ids["web-app"]
    click(cloud, "reject")
    final = cloud.wait_for_execution(release_id, timeout=60)

    assert final["status"] == "SUCCEEDED"  # a rejection is an outcome, not a crash
    assert outcome(final)["status"] == "REJECTED"
    assert "U0APPROVER1" in outcome(final)["cause"]
    assert deployments(cloud) == [(STAGING_GROUP, "Succeeded")]
    assert audit(cloud).release(release_id).status == "REJECTED"  # type: ignore[union-attr]
    assert locks(cloud) == []


def test_approval_timeout_ends_expired(local_cloud: LocalCloud) -> None:
    cloud = local_cloud
    with short_timeouts(approval_seconds=1):
        release_id = cloud.push_image().release_ids["web-app"]
        final = cloud.wait_for_execution(release_id, timeout=60)

    assert final["status"] == "SUCCEEDED"
    assert outcome(final)["status"] == "EXPIRED"
    assert deployments(cloud) == [(STAGING_GROUP, "Succeeded")]
    assert audit(cloud).release(release_id).status == "EXPIRED"  # type: ignore[union-attr]
    assert locks(cloud) == []


# ---------------------------------------------------------------------------------------------- concurrency
def test_supersede_a_newer_release_voids_the_older_ones_approval(local_cloud: LocalCloud) -> None:
    cloud = local_cloud  # config/pipelines/web-app.yaml: concurrency supersede
    older = start_release(cloud, "older", ["staging", "production"], pushed_at="2024-06-30T12:00:00+00:00")
    cloud.wait_for(lambda: approval_messages(cloud), 30, "the older release's approval")

    newer = start_release(cloud, "newer", ["staging", "production"], pushed_at="2024-06-30T12:05:00+00:00")
    older_final = cloud.wait_for_execution(older.release_id, timeout=60)
    assert older_final["status"] == "SUCCEEDED"
    assert outcome(older_final)["status"] == "SUPERSEDED"
    assert newer.release_id in outcome(older_final)["cause"]
    assert "Superseded by" in slack_texts(cloud)

    click(cloud, "approve", count=2)
    newer_final = cloud.wait_for_execution(newer.release_id, timeout=60)
    assert newer_final["status"] == "SUCCEEDED", cloud.execution_history(newer.release_id)[-3:]
    production = [d for d in cloud.deployments() if d["deploymentGroupName"] == PRODUCTION_GROUP]
    assert len(production) == 1
    assert audit(cloud).environment_result(newer.release_id, "production").status == "SUCCEEDED"  # type: ignore[union-attr]
    assert audit(cloud).environment_result(older.release_id, "production") is None
    assert locks(cloud) == []


@pytest.fixture
def queue_config(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(CONFIG, folder)
    pipeline = folder / "pipelines" / "web-app.yaml"
    pipeline.write_text(pipeline.read_text().replace("concurrency: supersede", "concurrency: queue"))
    return folder


def test_queue_a_later_release_waits_for_the_lock(
    local_cloud_factory: Callable[..., LocalCloud], queue_config: Path
) -> None:
    # LockBusy retries every 20 s x 0.01 = 0.2 s here; each deployment bakes for a second.
    cloud = local_cloud_factory(config_dir=queue_config, codedeploy_delay=1.0, time_scale=0.01)
    first = start_release(cloud, "first", ["staging"])
    cloud.wait_for(cloud.deployments, 30, "the first deployment")
    second = start_release(cloud, "second", ["staging"])

    assert cloud.wait_for_execution(first.release_id, timeout=60)["status"] == "SUCCEEDED"
    assert cloud.wait_for_execution(second.release_id, timeout=60)["status"] == "SUCCEEDED"
    staged = cloud.deployments()
    assert [d["status"] for d in staged] == ["Succeeded", "Succeeded"]
    # The second deployment started only after the first had finished: one release per environment at a time.
    assert staged[1]["createTime"] >= staged[0]["completeTime"]
    assert cloud.lambda_invocations["PrepareEnvironmentFunction"] > 2  # LockBusy, retried by the state machine
    history = cloud.execution_history(second.release_id)
    assert any("LockBusy" in json.dumps(e, default=str) for e in history)
    assert locks(cloud) == []


# ---------------------------------------------------------------------------------------------- resilience
def test_a_throttled_create_deployment_is_retried(local_cloud: LocalCloud) -> None:
    from moto.codedeploy.models import CodeDeployBackend
    from moto.core.exceptions import JsonRESTError

    cloud = local_cloud
    current = CodeDeployBackend.create_deployment
    throttled = {"calls": 0}
    # The SDK retries throttling itself (CLIENT_CONFIG: max_attempts retries after the first call); throttle every
    # one of those attempts so that the state machine's Retry on TransientError has to take over.
    retries = dict(CLIENT_CONFIG.retries or {})  # botocore rewrites max_attempts as total_max_attempts in place
    sdk_attempts = int(retries.get("total_max_attempts") or 1 + retries["max_attempts"])

    def create_deployment(backend: Any, *args: Any, **kwargs: Any) -> Any:
        throttled["calls"] += 1
        if throttled["calls"] <= sdk_attempts:
            raise JsonRESTError("ThrottlingException", "Rate exceeded")
        return current(backend, *args, **kwargs)

    with mock.patch.object(CodeDeployBackend, "create_deployment", create_deployment):
        release = start_release(cloud, "throttled", ["staging"])
        final = cloud.wait_for_execution(release.release_id, timeout=90)

    assert final["status"] == "SUCCEEDED", cloud.execution_history(release.release_id)[-3:]
    assert throttled["calls"] == sdk_attempts + 1
    assert cloud.lambda_invocations["StartDeploymentFunction"] == 2
    history = json.dumps(cloud.execution_history(release.release_id), default=str)
    assert "TransientError" in history
    assert deployments(cloud) == [(STAGING_GROUP, "Succeeded")]


def test_a_missed_codedeploy_event_is_recovered_by_the_timeout_check(local_cloud: LocalCloud) -> None:
    cloud = local_cloud
    emitted: list[str] = []
    original = cloud.codedeploy.emit

    def drop_final_events(deployment: Any, state: str) -> None:
        emitted.append(state)
        if state == "START":
            original(deployment, state)

    # A wait of a few seconds: on a loaded machine, Deploy itself may take a couple before it records the deployment.
    with short_timeouts(deployment_seconds=6), mock.patch.object(cloud.codedeploy, "emit", drop_final_events):
        release = start_release(cloud, "missed", ["staging"])
        final = cloud.wait_for_execution(release.release_id, timeout=60)

    assert "SUCCESS" in emitted  # the event existed, EventBridge just never delivered it
    assert final["status"] == "SUCCEEDED", cloud.execution_history(release.release_id)[-3:]
    names = [
        e["stateEnteredEventDetails"]["name"]
        for e in cloud.execution_history(release.release_id)
        if e["type"].endswith("StateEntered")
    ]
    assert "CheckDeployment" in names
    assert cloud.lambda_invocations["DeploymentEventsFunction"] == 1  # the check, once
    assert audit(cloud).release(release.release_id).status == "SUCCEEDED"  # type: ignore[union-attr]
    assert locks(cloud) == []


def test_a_deployment_still_running_after_the_wait_fails_the_release(local_cloud: LocalCloud) -> None:
    cloud = local_cloud

    def never_finish(deployment: Any, state: str) -> None:
        return None

    # The simulation never finishes the deployment: CodeDeploy keeps reporting it in progress. The wait is a few
    # seconds, not one: on a loaded machine the Deploy task itself may take a second before it records the deployment.
    with (
        short_timeouts(deployment_seconds=6),
        mock.patch.object(cloud.codedeploy, "start", lambda backend, deployment_id: None),
        mock.patch.object(cloud.codedeploy, "emit", never_finish),
    ):
        release = start_release(cloud, "stuck", ["staging"])
        final = cloud.wait_for_execution(release.release_id, timeout=60)
        time.sleep(0.1)

    assert final["status"] == "FAILED"
    assert "DeploymentTimedOut" in final.get("cause", "")
    assert audit(cloud).release(release.release_id).status == "FAILED"  # type: ignore[union-attr]
    # CodeDeploy is still deploying: the lock stays with the deployment ...
    [lock] = locks(cloud)
    assert (lock["holder"]["S"], lock["phase"]["S"]) == (release.release_id, "deploying")

    # ... until its own event, which is recorded as late: the release stays FAILED.
    [deployment] = cloud.deployments()
    backend_deployment = _codedeploy_deployment(cloud, deployment["deploymentId"])
    backend_deployment.status = "Succeeded"
    cloud.codedeploy.emit(backend_deployment, "SUCCESS")
    cloud.wait_for(lambda: not locks(cloud), 30, "the lock to go with the deployment's own event")
    assert audit(cloud).release(release.release_id).status == "FAILED"  # type: ignore[union-attr]
    staging = audit(cloud).environment_result(release.release_id, "staging")
    assert staging is not None and staging.status == "FAILED"
    kinds = [e.kind.value for e in audit(cloud).events(release.release_id)]
    assert "deployment_finished_late" in kinds
    assert "after release" in slack_texts(cloud)


def _codedeploy_deployment(cloud: LocalCloud, deployment_id: str) -> Any:
    from moto.codedeploy.models import codedeploy_backends

    return codedeploy_backends[cloud.account][cloud.region].deployments[deployment_id]
