"""A deployment's outcome is claimed once: duplicate and concurrent CodeDeploy events, a claimer that stopped half
way, a SUCCESS after the timeout check failed the environment, and the lock a still-running deployment keeps.
In-memory fakes of the release flow's ports (tests/support/fakes.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from slipway.domain.config import LocalConfigSource, load_config
from slipway.domain.release.deploy import start_deployment
from slipway.domain.release.events import on_deployment_event
from slipway.domain.release.finalize import finalize_release
from slipway.domain.release.prepare import prepare_environment
from slipway.domain.release.wait import check_deployment
from slipway.errors import DeploymentTimedOut, LockBusy, TransientError
from slipway.models.config import SlipwayConfig
from slipway.models.events import CodeDeployStateChangeEvent
from slipway.models.payloads import (
    CheckDeploymentInput,
    FinalizeReleaseInput,
    PrepareEnvironmentInput,
    StartDeploymentInput,
    TaskError,
)
from slipway.models.release import Release
from tests.support.clock import Clock
from tests.support.fakes import FakeDeployer, FakeReleaseDeps
from tests.support.paths import CONFIG, load_event
from tests.support.releases import a_release, deploy_on_fakes

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def release(n: int, *, minutes: int = 0) -> Release:
    return a_release(n, salt="outcomes", pushed_at=T0.replace(minute=minutes))


@pytest.fixture
def config() -> SlipwayConfig:
    return load_config(LocalConfigSource(CONFIG))


@pytest.fixture
def deps(config: SlipwayConfig) -> FakeReleaseDeps:
    queued = config.pipelines["web-app"].model_copy(update={"concurrency": "queue"})
    queue_config = config.model_copy(update={"pipelines": {"web-app": queued}})
    return FakeReleaseDeps(config_fn=lambda: queue_config, source=LocalConfigSource(CONFIG), clock=Clock(T0))


def deployer(deps: FakeReleaseDeps) -> FakeDeployer:
    found: FakeDeployer = deps.deployers["codedeploy"]
    return found


def deploy(deps: FakeReleaseDeps, rel: Release, environment: str = "staging") -> str:
    deps.audit.release_started(rel, ["staging", "production"])
    return deploy_on_fakes(deps, rel, environment)


def event(deployment_id: str, state: str = "SUCCESS") -> CodeDeployStateChangeEvent:
    raw = load_event("codedeploy-deployment-success.json")
    raw["detail"].update(deploymentId=deployment_id, state=state)
    return CodeDeployStateChangeEvent.model_validate(raw)


def good_rows(deps: FakeReleaseDeps) -> int:
    return len(deps.audit.good)


# ---------------------------------------------------------------------------------------------- duplicates
def test_two_deliveries_of_one_event_at_once_record_it_once(deps: FakeReleaseDeps) -> None:
    """Both deliveries read the token before either finished: only the one whose claim succeeds records it."""
    rel = release(1)
    deployment_id = deploy(deps, rel)
    deployer(deps).finish(deployment_id, succeeded=True)
    stale = deps.state.deployment_token(deployment_id)
    first = on_deployment_event(deps, event(deployment_id))
    reads = iter([stale])  # the second delivery's first read: what it saw before the first one wrote anything
    original = deps.state.deployment_token
    deps.state.deployment_token = lambda d: next(reads, None) or original(d)  # type: ignore[method-assign]
    second = on_deployment_event(deps, event(deployment_id))

    assert first["status"] == "SUCCEEDED"
    assert second == {"ignored": True, "deployment_id": deployment_id, "reason": "already completed"}
    assert good_rows(deps) == 1
    assert len([n for n in deps.notifier.notices if "is live in *staging*" in n]) == 1
    assert [token for token, _ in deps.tokens.succeeded] == ["token-staging"]


def test_a_delivery_finishes_what_a_claimer_that_stopped_half_way_left_without_repeating_its_notice(
    deps: FakeReleaseDeps,
) -> None:
    rel = release(2)
    deployment_id = deploy(deps, rel)
    deployer(deps).finish(deployment_id, succeeded=True)
    original = deps.audit.environment_finished
    calls = {"n": 0}

    def throttled_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TransientError("PutItem: ThrottlingException (will retry)")
        return original(*args, **kwargs)

    deps.audit.environment_finished = throttled_once  # type: ignore[method-assign]
    with pytest.raises(TransientError):
        on_deployment_event(deps, event(deployment_id))  # claimed, then stopped: Lambda retries the event
    assert deps.state.deployment_token(deployment_id).completed_status == "SUCCEEDED"  # type: ignore[union-attr]
    retried = on_deployment_event(deps, event(deployment_id))
    assert retried["status"] == "SUCCEEDED"
    assert deps.audit.environment_result(rel.release_id, "staging").status == "SUCCEEDED"  # type: ignore[union-attr]
    assert deps.state.lock("web-app", "staging") is None
    assert [token for token, _ in deps.tokens.succeeded] == ["token-staging"]
    assert deps.state.deployment_token(deployment_id).recorded_at  # type: ignore[union-attr]
    assert on_deployment_event(deps, event(deployment_id))["reason"] == "already completed"
    assert good_rows(deps) == 1


# ---------------------------------------------------------------------------------------------- late outcomes
def time_out(deps: FakeReleaseDeps, rel: Release, environment: str) -> None:
    with pytest.raises(DeploymentTimedOut, match="still InProgress"):
        check_deployment(deps, CheckDeploymentInput(release=rel, environment=environment))
    finalize_release(
        deps, FinalizeReleaseInput(release=rel, error=TaskError(Error="DeploymentTimedOut", Cause="timed out"))
    )


@pytest.mark.parametrize("late", ["SUCCESS", "FAILURE"])
def test_an_outcome_after_the_timeout_check_failed_the_release_is_recorded_as_late_not_rewritten(
    deps: FakeReleaseDeps, late: str
) -> None:
    rel = release(3)
    deployment_id = deploy(deps, rel)
    time_out(deps, rel, "staging")
    assert deps.audit.release(rel.release_id).status == "FAILED"  # type: ignore[union-attr]
    staging = deps.audit.environment_result(rel.release_id, "staging")
    assert staging is not None and staging.status == "FAILED" and "still InProgress" in str(staging.cause)

    deployer(deps).finish(deployment_id, succeeded=late == "SUCCESS")
    result = on_deployment_event(deps, event(deployment_id, late))

    assert result["late"] is True
    assert deps.audit.release(rel.release_id).status == "FAILED"  # type: ignore[union-attr]
    assert deps.audit.environment_result(rel.release_id, "staging").status == "FAILED"  # type: ignore[union-attr]
    assert good_rows(deps) == 0
    [late_event] = [e for e in deps.audit.events(rel.release_id) if e.kind.value == "deployment_finished_late"]
    status = "SUCCEEDED" if late == "SUCCESS" else "FAILED"
    assert late_event.data == {"deployment_id": deployment_id, "status": status, "release_status": "FAILED"}
    assert f"ended {status} after release {rel.release_id} had ended FAILED" in deps.notifier.notices[-1]
    assert deps.tokens.succeeded == [] and deps.tokens.failed == []


def test_the_lock_stays_while_codedeploy_still_deploys_and_goes_with_the_deployments_own_event(
    deps: FakeReleaseDeps,
) -> None:
    stuck, waiting = release(4), release(5, minutes=1)
    deployment_id = deploy(deps, stuck)
    time_out(deps, stuck, "staging")

    lock = deps.state.lock("web-app", "staging")
    assert lock is not None and (lock.holder, lock.phase) == (stuck.release_id, "deploying")
    finished = [e for e in deps.audit.events(stuck.release_id) if e.kind.value == "release_finished"][-1]
    assert finished.data["locks_kept"] == ["staging"] and "staging" not in finished.data["locks"]
    assert f"staging stays locked until deployment {deployment_id} ends" in deps.notifier.notices[-1]
    # The holder's release has ended, yet its lock is not stale while the deployment runs.
    with pytest.raises(LockBusy, match=f"held by release {stuck.release_id} \\(deploying"):
        deploy(deps, waiting)

    deployer(deps).finish(deployment_id, succeeded=True)
    on_deployment_event(deps, event(deployment_id))
    assert deps.state.lock("web-app", "staging") is None
    assert deploy(deps, waiting)


def test_a_lock_whose_deployment_ended_unnoticed_is_taken_over(deps: FakeReleaseDeps) -> None:
    """No event came at all: once CodeDeploy says the deployment ended, the finished release's lock is stale."""
    stuck, waiting = release(6), release(7, minutes=1)
    deployment_id = deploy(deps, stuck)
    time_out(deps, stuck, "staging")
    deployer(deps).finish(deployment_id, succeeded=False, error="stopped by hand")
    assert deploy(deps, waiting)
    assert deps.state.lock("web-app", "staging").holder == waiting.release_id  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------- retried Deploy
def test_a_retried_deploy_finds_the_deployment_an_earlier_try_created_before_recording_its_id(
    deps: FakeReleaseDeps,
) -> None:
    rel = release(8)
    deps.audit.release_started(rel, ["staging", "production"])
    plan = prepare_environment(deps, PrepareEnvironmentInput(release=rel, environment="staging"))
    task = StartDeploymentInput(
        task_token="token-staging", release=rel, environment="staging", plan=plan,
        environments=["staging", "production"],
    )  # fmt: skip
    original = deps.state.put_deployment_token

    def crash(*args: Any, **kwargs: Any) -> None:
        raise TransientError("PutItem: ThrottlingException (will retry)")

    deps.state.put_deployment_token = crash  # type: ignore[method-assign]
    with pytest.raises(TransientError):
        start_deployment(deps, task)  # CreateDeployment went through; recording it did not
    deps.state.put_deployment_token = original  # type: ignore[method-assign]
    [created] = deployer(deps).infos
    # The deployment ended before the retry stored the token: its event found nothing to complete.
    deployer(deps).finish(created, succeeded=True)
    assert on_deployment_event(deps, event(created))["reason"] == "not a slipway deployment"

    assert start_deployment(deps, task)["deployment_id"] == created
    assert len(deployer(deps).started) == 1  # one deployment, not two
    assert [token for token, _ in deps.tokens.succeeded] == ["token-staging"]  # the retry completed the task
    assert deps.audit.environment_result(rel.release_id, "staging").status == "SUCCEEDED"  # type: ignore[union-attr]


def test_an_event_is_retried_within_its_invocation_before_lambda_would_retry_it(deps: FakeReleaseDeps) -> None:
    from slipway.domain.release.events import on_deployment_wait

    rel = release(9)
    deployment_id = deploy(deps, rel)
    deployer(deps).finish(deployment_id, succeeded=True)
    original = deps.state.claim_completion
    failures = iter([TransientError("UpdateItem: ThrottlingException"), TransientError("UpdateItem: 503")])

    def throttled(*args: Any) -> bool:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return original(*args)

    deps.state.claim_completion = throttled  # type: ignore[method-assign]
    assert on_deployment_wait(deps, event(deployment_id))["status"] == "SUCCEEDED"
    assert deps.slept == [0.5, 1.0]
    assert [token for token, _ in deps.tokens.succeeded] == ["token-staging"]

    always = TransientError("UpdateItem: ThrottlingException")
    deps.state.deployment_token = lambda _id: (_ for _ in ()).throw(always)  # type: ignore[assignment, method-assign]
    with pytest.raises(TransientError):  # then Lambda's own retries take over
        on_deployment_wait(deps, event(deployment_id))
    assert deps.slept[2:] == [0.5, 1.0, 2.0]
