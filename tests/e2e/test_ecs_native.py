"""ECS-native deployments (``deployment.type: ecs``) through the real state machine in the embedded local cloud.

The local cloud runs ECS service deployments through their documented states and emits ``ECS Deployment State
Change``; the pipeline is the example config's ``api`` (rolling in staging, ECS blue/green in production).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from tests.e2e.test_release_state_machine import (
    RELEASE_FUNCTIONS,
    approval_messages,
    audit,
    click,
    locks,
    outcome,
    short_timeouts,
    slack_texts,
)
from tests.support.paths import CONFIG

from slipway.adapters.state_store import StateStore
from slipway.domain.release.rollback import choose_target, rollback_release
from slipway.errors import TransientError
from slipway.models.release import ReleaseInput
from slipway_dev.cli import main
from slipway_dev.local.base import FAIL_ENV_VAR
from slipway_dev.local.cloud import LocalCloud

pytestmark = pytest.mark.e2e

PIPELINE = "api"
REPOSITORY = "api-images"


@pytest.fixture
def api_cloud(local_cloud_factory: Callable[..., LocalCloud]) -> Iterator[Callable[..., LocalCloud]]:
    """A local cloud seeded from the example config (whose ``api`` pipeline is ECS-native)."""

    def start(**options: Any) -> LocalCloud:
        return local_cloud_factory(**{"config_dir": CONFIG, **options})

    yield start


def config_copy(tmp_path: Path, edit_staging: Callable[[dict[str, Any]], None]) -> Path:
    """The example config with the api pipeline's staging environment edited."""
    root = tmp_path / "config"
    shutil.copytree(CONFIG, root)
    path = root / "pipelines" / "api.yaml"
    data = yaml.safe_load(path.read_text())
    edit_staging(data["environments"][0])
    path.write_text(yaml.safe_dump(data))
    return root


def service_deployments(cloud: LocalCloud) -> list[dict[str, Any]]:
    """Every simulated service deployment, oldest first (DescribeServiceDeployments' shape)."""
    with cloud.ecs_deployments.lock:
        return [dict(d) for d in cloud.ecs_deployments.deployments.values()]


def statuses(cloud: LocalCloud) -> list[tuple[str, str]]:
    return [(d["serviceArn"].rsplit("/", 1)[-1], d["status"]) for d in service_deployments(cloud)]


def release_invocations(cloud: LocalCloud) -> int:
    return sum(cloud.lambda_invocations.get(name, 0) for name in RELEASE_FUNCTIONS)


def push(cloud: LocalCloud, seed: str | None = None) -> str:
    return cloud.push_image(repository=REPOSITORY, seed=seed).release_ids[PIPELINE]


def running_task_definition(cloud: LocalCloud, cluster: str, service: str) -> str:
    described = cloud.client("ecs").describe_services(cluster=cluster, services=[service])["services"][0]
    return str(described["taskDefinition"])


# ---------------------------------------------------------------------------------------------- rolling
def test_rolling_then_blue_green_approved_after_test_traffic_within_budget(
    api_cloud: Callable[..., LocalCloud],
) -> None:
    cloud = api_cloud()
    release_id = push(cloud)
    # The approval is asked only once production's new revision serves test traffic (the deployment's PAUSE hook).
    posts = cloud.wait_for(lambda: approval_messages(cloud), 30, "the approval after test traffic")
    production_deployment = service_deployments(cloud)[-1]
    assert production_deployment["serviceArn"].endswith("/production-api-service")
    assert production_deployment["lifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT"
    assert [h["status"] for h in production_deployment["lifecycleHookDetails"]] == ["AWAITING_ACTION"]
    text = json.dumps(posts[-1])
    assert "https://test.api.example.com" in text and "test traffic" in text
    click(cloud, "approve")
    final = cloud.wait_for_execution(release_id, timeout=60)

    assert final["status"] == "SUCCEEDED", cloud.execution_history(release_id)[-3:]
    assert statuses(cloud) == [("staging-api-service", "SUCCESSFUL"), ("production-api-service", "SUCCESSFUL")]
    staging, production = service_deployments(cloud)
    assert staging["deploymentConfiguration"]["strategy"] == "ROLLING"
    assert production["deploymentConfiguration"]["strategy"] == "BLUE_GREEN"
    assert production["lifecycleStage"] == "CLEAN_UP"  # through test traffic, production traffic and the bake
    assert [h["status"] for h in production["lifecycleHookDetails"]] == ["SUCCEEDED"]  # CONTINUE'd by the approval
    hooks = production["deploymentConfiguration"]["lifecycleHooks"]
    assert hooks == [
        {
            "targetType": "PAUSE",
            "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
            "timeoutConfiguration": {"timeoutInMinutes": 60, "action": "ROLLBACK"},
        }
    ]
    assert "RequestApproval" not in [e["stateEnteredEventDetails"]["name"] for e in _entered(cloud, release_id)]
    assert cloud.state_transitions(release_id) <= 10
    assert release_invocations(cloud) <= 8
    for environment, deployment in (("staging", staging), ("production", production)):
        result = audit(cloud).environment_result(release_id, environment)
        assert result is not None and result.status == "SUCCEEDED"
        assert result.deployment_id == deployment["serviceDeploymentArn"]
        assert audit(cloud).verified_good(PIPELINE, environment)[0].release_id == release_id
        assert running_task_definition(cloud, f"{environment}-api-cluster", f"{environment}-api-service") == (
            result.task_definition_arn
        )
    assert locks(cloud) == []
    assert "ECS arn:aws:ecs:" in slack_texts(cloud)  # the deploy notice names the service deployment


def test_a_rejection_after_test_traffic_rolls_production_back(api_cloud: Callable[..., LocalCloud]) -> None:
    cloud = api_cloud()
    before = running_task_definition(cloud, "production-api-cluster", "production-api-service")
    release_id = push(cloud)
    click(cloud, "reject")
    final = cloud.wait_for_execution(release_id, timeout=60)

    assert final["status"] == "SUCCEEDED"  # the state machine ends cleanly: rejected is not a failure
    assert outcome(final)["status"] == "REJECTED"
    assert statuses(cloud) == [("staging-api-service", "SUCCESSFUL"), ("production-api-service", "ROLLBACK_SUCCESSFUL")]
    production = service_deployments(cloud)[-1]
    assert "ContinueServiceDeployment" in production["rollback"]["reason"]
    assert running_task_definition(cloud, "production-api-cluster", "production-api-service") == before
    record = audit(cloud).release(release_id)
    assert record is not None and record.status == "REJECTED"
    result = audit(cloud).environment_result(release_id, "production")
    assert result is not None and result.status == "FAILED" and "ROLLBACK_SUCCESSFUL" in str(result.cause)
    assert audit(cloud).verified_good(PIPELINE, "production") == []
    assert "ROLLBACK_SUCCESSFUL" in slack_texts(cloud)
    assert locks(cloud) == []


def test_an_unanswered_test_traffic_approval_times_out_and_rolls_back(api_cloud: Callable[..., LocalCloud]) -> None:
    cloud = api_cloud()
    cloud.ecs_deployments.hook_timeout_seconds = 4  # the hook's timeout, just after the approval's own
    with short_timeouts(approval_seconds=2):
        release_id = push(cloud)
        cloud.wait_for(lambda: approval_messages(cloud), 30, "the approval after test traffic")
        final = cloud.wait_for_execution(release_id, timeout=60)

    assert outcome(final)["status"] == "EXPIRED"
    production = service_deployments(cloud)[-1]
    assert production["status"] == "ROLLBACK_SUCCESSFUL"
    assert [h["status"] for h in production["lifecycleHookDetails"]] == ["TIMED_OUT"]
    assert "timed out" in production["rollback"]["reason"]
    record = audit(cloud).release(release_id)
    assert record is not None and record.status == "EXPIRED"
    assert locks(cloud) == []


def test_rolling_failure_with_the_circuit_breaker_rolls_back(api_cloud: Callable[..., LocalCloud]) -> None:
    cloud = api_cloud(fail_deployments=["staging"])
    before = running_task_definition(cloud, "staging-api-cluster", "staging-api-service")
    release_id = push(cloud)
    final = cloud.wait_for_execution(release_id, timeout=60)

    assert final["status"] == "FAILED"
    assert "DeploymentFailed" in final.get("cause", "")
    assert statuses(cloud) == [("staging-api-service", "ROLLBACK_SUCCESSFUL")]
    staging = audit(cloud).environment_result(release_id, "staging")
    assert staging is not None and staging.status == "FAILED"
    assert "ROLLBACK_SUCCESSFUL" in str(staging.cause)
    assert "circuit breaker" in str(staging.cause)
    assert "ROLLBACK_SUCCESSFUL" in slack_texts(cloud)
    assert running_task_definition(cloud, "staging-api-cluster", "staging-api-service") == before
    assert locks(cloud) == []
    # ECS said so itself: no timeout check was needed.
    names = [e["stateEnteredEventDetails"]["name"] for e in _entered(cloud, release_id)]
    assert "CheckDeployment" not in names


def test_rolling_failure_without_the_circuit_breaker_is_found_by_the_timeout_check(
    api_cloud: Callable[..., LocalCloud], tmp_path: Path
) -> None:
    config = config_copy(tmp_path, lambda staging: staging["deployment"].update(circuit_breaker=False))
    cloud = api_cloud(fail_deployments=["staging"], config_dir=config)
    with short_timeouts(deployment_seconds=6):
        release_id = push(cloud)
        final = cloud.wait_for_execution(release_id, timeout=60)

    assert final["status"] == "FAILED"
    assert "DeploymentTimedOut" in final.get("cause", "")
    assert statuses(cloud) == [("staging-api-service", "IN_PROGRESS")]  # ECS never says it failed
    names = [e["stateEnteredEventDetails"]["name"] for e in _entered(cloud, release_id)]
    assert "CheckDeployment" in names
    staging = audit(cloud).environment_result(release_id, "staging")
    assert staging is not None and staging.status == "FAILED"
    assert "still IN_PROGRESS" in str(staging.cause)
    # The deployment keeps the lock until it ends: no other release deploys over it.
    [lock] = locks(cloud)
    assert lock["holder"]["S"] == release_id

    # Someone stops it later and no event says so: the next release's PrepareEnvironment asks ECS
    # (DescribeServiceDeployments), finds it ended, and takes the lock over.
    [stuck] = service_deployments(cloud)
    cloud.ecs_deployments._set(cloud.ecs_deployments.deployments[stuck["serviceDeploymentArn"]], status="STOPPED")
    cloud.fail_deployments = []
    with mock.patch.dict(os.environ, {FAIL_ENV_VAR: ""}):  # the cloud exported its failing environments at start
        next_release = push(cloud, seed="fixed")
        click(cloud, "approve")
        assert cloud.wait_for_execution(next_release, timeout=90)["status"] == "SUCCEEDED"
    assert statuses(cloud)[1:] == [("staging-api-service", "SUCCESSFUL"), ("production-api-service", "SUCCESSFUL")]


def test_a_missed_ecs_event_is_recovered_by_the_timeout_check(api_cloud: Callable[..., LocalCloud]) -> None:
    cloud = api_cloud()
    emitted: list[str] = []

    def drop_events(service: Any, deployment_id: str, event_name: str, *args: Any) -> None:
        emitted.append(event_name)

    with short_timeouts(deployment_seconds=6), mock.patch.object(cloud.ecs_deployments, "emit", drop_events):
        release_id = push(cloud)
        click(cloud, "approve")
        final = cloud.wait_for_execution(release_id, timeout=90)

    assert "SERVICE_DEPLOYMENT_COMPLETED" in emitted  # the events existed, EventBridge just never delivered them
    assert final["status"] == "SUCCEEDED", cloud.execution_history(release_id)[-3:]
    names = [e["stateEnteredEventDetails"]["name"] for e in _entered(cloud, release_id)]
    assert names.count("CheckDeployment") == 2  # one DescribeServiceDeployments per environment decided
    assert (
        "DeploymentEventsFunction" not in cloud.lambda_invocations
        or cloud.lambda_invocations["DeploymentEventsFunction"] == 2
    )
    assert audit(cloud).release(release_id).status == "SUCCEEDED"  # type: ignore[union-attr]
    assert locks(cloud) == []


def test_a_deploy_retried_after_update_service_reuses_its_deployment(api_cloud: Callable[..., LocalCloud]) -> None:
    """StartDeployment stops after UpdateService, before it records the deployment: the retry finds the service
    deployment (DescribeServices: the service runs the plan's revision) instead of starting a second one, and
    records it at once when it has already ended (DescribeServiceDeployments), since its event found no token."""
    cloud = api_cloud()
    original = StateStore.put_deployment_token
    failed: list[str] = []

    def put_deployment_token(store: StateStore, deployment_id: str, **kwargs: Any) -> None:
        if not failed:
            failed.append(deployment_id)
            raise TransientError("DynamoDB PutItem throttled (injected)")
        original(store, deployment_id, **kwargs)

    with mock.patch.object(StateStore, "put_deployment_token", put_deployment_token):
        release_id = push(cloud)
        click(cloud, "approve")
        final = cloud.wait_for_execution(release_id, timeout=90)

    assert final["status"] == "SUCCEEDED", cloud.execution_history(release_id)[-3:]
    assert statuses(cloud) == [("staging-api-service", "SUCCESSFUL"), ("production-api-service", "SUCCESSFUL")]
    staging = audit(cloud).environment_result(release_id, "staging")
    assert staging is not None and staging.deployment_id == failed[0]
    assert cloud.lambda_invocations["StartDeploymentFunction"] == 3  # staging twice, production once


# ---------------------------------------------------------------------------------------------- rollback
def test_rollback_redeploys_the_last_verified_good_revision_through_update_service(
    api_cloud: Callable[..., LocalCloud],
) -> None:
    cloud = api_cloud()
    first = push(cloud, seed="first")
    click(cloud, "approve")
    assert cloud.wait_for_execution(first, timeout=60)["status"] == "SUCCEEDED"
    second = push(cloud, seed="second")
    click(cloud, "approve", count=2)
    assert cloud.wait_for_execution(second, timeout=60)["status"] == "SUCCEEDED"
    good = audit(cloud).environment_result(first, "staging")
    assert good is not None

    # What `slipway rollback api staging` starts: a release of the verified-good revision, through the same intake.
    target = choose_target(audit(cloud).verified_good(PIPELINE, "staging"), None, "staging of api")
    release = rollback_release(
        target, audit(cloud).release(target.release_id), now=datetime.now(UTC), requested_by=None
    )
    audit(cloud).release_started(release, ["staging"])
    cloud.client("stepfunctions").start_execution(
        stateMachineArn=cloud.state_machine_arn,
        name=release.release_id,
        input=ReleaseInput(release=release, environments=["staging"]).model_dump_json(),
    )
    final = cloud.wait_for_execution(release.release_id, timeout=60)

    assert final["status"] == "SUCCEEDED", cloud.execution_history(release.release_id)[-3:]
    assert target.task_definition_arn == good.task_definition_arn
    assert running_task_definition(cloud, "staging-api-cluster", "staging-api-service") == good.task_definition_arn
    last = service_deployments(cloud)[-1]
    assert (last["status"], last["deploymentConfiguration"]["strategy"]) == ("SUCCESSFUL", "ROLLING")
    result = audit(cloud).environment_result(release.release_id, "staging")
    assert result is not None and result.deployment_id == last["serviceDeploymentArn"]
    assert result.task_definition_arn == good.task_definition_arn


# ---------------------------------------------------------------------------------------------- the demo
@pytest.mark.parametrize(
    ("args", "exit_code", "status", "staging", "production"),
    [([], 0, "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"), (["--fail-staging"], 1, "FAILED", "ROLLED_BACK", "NOT_DEPLOYED")],
)
def test_the_demo_runs_the_ecs_native_pipeline(
    tmp_path: Path, args: list[str], exit_code: int, status: str, staging: str, production: str
) -> None:
    argv = ["local", "demo", "--state-dir", str(tmp_path), "--config", str(CONFIG), "--pipeline", PIPELINE, *args]
    assert main(argv) == exit_code
    summary = json.loads((tmp_path / "demo-summary.json").read_text())
    assert (summary["pipeline"], summary["status"]) == (PIPELINE, status)
    environments = summary["environments"]
    assert (environments["staging"]["status"], environments["production"]["status"]) == (staging, production)
    assert environments["staging"]["deployment_id"].startswith(
        "arn:aws:ecs:eu-west-2:123456789012:service-deployment/staging-api-cluster/staging-api-service/"
    )
    assert summary["state_transitions"] <= 10
    assert summary["lambda_invocations"] - summary["lambda_invocations_by_function"]["EcrPushFunction"] <= 8


# ---------------------------------------------------------------------------------------------- helpers
def _entered(cloud: LocalCloud, release_id: str) -> list[dict[str, Any]]:
    return [e for e in cloud.execution_history(release_id) if e["type"].endswith("StateEntered")]
