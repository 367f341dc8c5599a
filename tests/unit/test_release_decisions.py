"""The release flow's decisions on in-memory fakes of its ports: promotion, supersede, the lock, the plan check,
completing a deployment. No moto, no network: the domain depends on Protocols only."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from slipway.domain.config import LocalConfigSource, load_config
from slipway.domain.release.deploy import start_deployment
from slipway.domain.release.events import on_deployment_event
from slipway.domain.release.gates import check_newest
from slipway.domain.release.prepare import prepare_environment
from slipway.domain.release.wait import check_deployment
from slipway.errors import DeploymentTimedOut, LockBusy, PromotionRefused, Superseded
from slipway.models.config import SlipwayConfig
from slipway.models.events import CodeDeployStateChangeEvent
from slipway.models.payloads import CheckDeploymentInput, PrepareEnvironmentInput, StartDeploymentInput
from slipway.models.release import Plan, Release
from tests.support.clock import Clock
from tests.support.fakes import FakeDeployer, FakeReleaseDeps
from tests.support.paths import CONFIG, load_event
from tests.support.releases import a_release

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def release(n: int, *, minutes: int = 0) -> Release:
    return a_release(n, salt="decisions", pushed_at=T0 + timedelta(minutes=minutes), commit=f"{n:040x}")


@pytest.fixture
def config() -> SlipwayConfig:
    return load_config(LocalConfigSource(CONFIG))


@pytest.fixture
def deps(config: SlipwayConfig) -> FakeReleaseDeps:
    return FakeReleaseDeps(config_fn=lambda: config, source=LocalConfigSource(CONFIG), clock=Clock(T0))


def prepare(deps: FakeReleaseDeps, rel: Release, environment: str) -> Plan:
    return prepare_environment(deps, PrepareEnvironmentInput(release=rel, environment=environment))


def start(deps: FakeReleaseDeps, rel: Release, environment: str, plan: Plan, token: str = "token") -> str:
    task = StartDeploymentInput(
        task_token=token, release=rel, environment=environment, plan=plan, environments=["staging", "production"]
    )
    return str(start_deployment(deps, task)["deployment_id"])


def event(deployment_id: str, state: str = "SUCCESS") -> CodeDeployStateChangeEvent:
    raw = load_event("codedeploy-deployment-success.json")
    raw["detail"].update(deploymentId=deployment_id, state=state)
    return CodeDeployStateChangeEvent.model_validate(raw)


def deployer(deps: FakeReleaseDeps) -> FakeDeployer:
    found: FakeDeployer = deps.deployers["codedeploy"]
    return found


def ship(deps: FakeReleaseDeps, rel: Release, environment: str) -> str:
    """prepare -> deploy -> the deployment succeeds -> its event."""
    deployment_id = start(deps, rel, environment, prepare(deps, rel, environment), token=f"token-{environment}")
    deployer(deps).finish(deployment_id, succeeded=True)
    on_deployment_event(deps, event(deployment_id))
    return deployment_id


# ---------------------------------------------------------------------------------------------- promotion
def test_production_refuses_a_digest_that_never_succeeded_in_staging(deps: FakeReleaseDeps) -> None:
    with pytest.raises(PromotionRefused, match=r"has not succeeded in staging .*never deployed"):
        prepare(deps, release(1), "production")
    assert deps.state.locks == {}


def test_production_refuses_a_digest_whose_staging_failed(deps: FakeReleaseDeps) -> None:
    rel = release(1)
    deployment_id = start(deps, rel, "staging", prepare(deps, rel, "staging"))
    deployer(deps).finish(deployment_id, succeeded=False, error="health checks failed")
    on_deployment_event(deps, event(deployment_id, "FAILURE"))
    with pytest.raises(PromotionRefused, match=r"staging: FAILED"):
        prepare(deps, rel, "production")


def test_production_refuses_another_digest_than_staging_shipped(deps: FakeReleaseDeps) -> None:
    rel, other = release(1), release(2)
    deps.audit.environment_finished(other.model_copy(update={"release_id": rel.release_id}), "staging", "SUCCEEDED")
    with pytest.raises(PromotionRefused, match="different digest"):
        prepare(deps, rel, "production")


def test_production_takes_the_digest_staging_shipped(deps: FakeReleaseDeps) -> None:
    rel = release(1)
    ship(deps, rel, "staging")
    plan = prepare(deps, rel, "production")
    assert (plan.environment, plan.digest, plan.approval_required) == ("production", rel.digest, True)


# ---------------------------------------------------------------------------------------------- supersede, locks
def test_a_newer_release_supersedes_an_older_one_at_its_next_environment(deps: FakeReleaseDeps) -> None:
    older, newer = release(1), release(2, minutes=5)
    ship(deps, older, "staging")
    prepare(deps, newer, "staging")
    with pytest.raises(Superseded, match=newer.release_id):
        prepare(deps, older, "production")


def test_an_older_push_prepared_later_is_superseded_at_once(deps: FakeReleaseDeps) -> None:
    older, newer = release(1), release(2, minutes=5)
    prepare(deps, newer, "staging")
    with pytest.raises(Superseded):
        prepare(deps, older, "staging")


def test_two_images_pushed_in_the_same_second_are_ordered_by_digest_whichever_is_prepared_first(
    config: SlipwayConfig,
) -> None:
    one, two = release(1), release(2)  # the same push time, to the microsecond
    newer, older = sorted((one, two), key=lambda r: r.digest, reverse=True)
    pipeline = config.pipelines["web-app"]
    for first, second in ((newer, older), (older, newer)):
        deps = FakeReleaseDeps(config_fn=lambda: config, source=LocalConfigSource(CONFIG), clock=Clock(T0))
        check_newest(deps, pipeline, first, "staging")
        if second is older:
            with pytest.raises(Superseded, match=newer.release_id):
                check_newest(deps, pipeline, second, "staging")
        else:
            check_newest(deps, pipeline, second, "staging")
        assert deps.state.latest["web-app"][0] == newer.release_id
        with pytest.raises(Superseded, match=newer.release_id):
            check_newest(deps, pipeline, older, "production")


def fail_staging(deps: FakeReleaseDeps, rel: Release) -> None:
    deps.audit.release_started(rel, ["staging", "production"])
    deployment_id = start(deps, rel, "staging", prepare(deps, rel, "staging"), token=f"token-{rel.release_id}")
    deployer(deps).finish(deployment_id, succeeded=False, error="health checks failed")
    on_deployment_event(deps, event(deployment_id, "FAILURE"))


def test_a_newer_release_that_failed_supersedes_nothing(deps: FakeReleaseDeps) -> None:
    older, newer = release(1), release(2, minutes=5)
    fail_staging(deps, newer)  # its environment failed; FinalizeRelease has not run yet
    plan = prepare(deps, older, "staging")
    assert plan.release_id == older.release_id
    assert deps.state.latest["web-app"][0] == older.release_id
    deps.audit.release_finished(newer.release_id, "FAILED", "staging failed")
    assert prepare(deps, older, "staging").release_id == older.release_id  # and once it is recorded FAILED


def test_a_release_pushed_in_the_same_second_as_one_that_failed_goes_on(config: SlipwayConfig) -> None:
    """The issue's case: two pushes in one second, the one that sorts newer fails; the other is not superseded."""
    one, two = release(1), release(2)
    failed, later = sorted((one, two), key=lambda r: r.digest, reverse=True)
    deps = FakeReleaseDeps(config_fn=lambda: config, source=LocalConfigSource(CONFIG), clock=Clock(T0))
    fail_staging(deps, failed)
    deps.audit.release_finished(failed.release_id, "FAILED", "staging failed")
    assert prepare(deps, later, "staging").release_id == later.release_id


def test_a_newer_release_that_succeeded_still_supersedes(deps: FakeReleaseDeps) -> None:
    older, newer = release(1), release(2, minutes=5)
    deps.audit.release_started(newer, ["staging", "production"])
    ship(deps, newer, "staging")
    ship(deps, newer, "production")
    assert deps.audit.release(newer.release_id).status == "SUCCEEDED"  # type: ignore[union-attr]
    with pytest.raises(Superseded, match=newer.release_id):
        prepare(deps, older, "staging")


def test_supersede_voids_the_older_release_waiting_for_approval_and_takes_the_lock(deps: FakeReleaseDeps) -> None:
    older, newer = release(1), release(2, minutes=5)
    ship(deps, older, "staging")
    prepare(deps, older, "production")  # waits for its approval: the lock's phase says so
    ship(deps, newer, "staging")
    prepare(deps, newer, "production")
    assert deps.approvals.voided == [(older.release_id, f"Superseded by {newer.release_id}")]
    assert deps.state.lock("web-app", "production").holder == newer.release_id  # type: ignore[union-attr]
    assert deps.audit.kinds(older.release_id)[-1] == "superseded"


def test_queue_makes_the_second_release_wait_while_the_first_deploys(
    deps: FakeReleaseDeps, config: SlipwayConfig
) -> None:
    queued = config.pipelines["web-app"].model_copy(update={"concurrency": "queue"})
    deps.config_fn = lambda: config.model_copy(update={"pipelines": {"web-app": queued}})
    first, second = release(1), release(2, minutes=1)
    start(deps, first, "staging", prepare(deps, first, "staging"))
    with pytest.raises(LockBusy, match=f"held by release {first.release_id} \\(deploying"):
        prepare(deps, second, "staging")


def test_a_lock_held_by_a_finished_release_is_taken_over(deps: FakeReleaseDeps) -> None:
    crashed, next_one = release(1), release(2, minutes=1)
    deps.audit.release_started(crashed, ["staging", "production"])
    prepare(deps, crashed, "staging")
    deps.audit.release_finished(crashed.release_id, "FAILED", "crashed without releasing its lock")
    prepare(deps, next_one, "staging")
    assert deps.state.lock("web-app", "staging").holder == next_one.release_id  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------- deploy, wait
def test_deploy_refuses_a_plan_that_changed_since_it_was_prepared(deps: FakeReleaseDeps) -> None:
    rel = release(1)
    plan = prepare(deps, rel, "staging")
    with pytest.raises(PromotionRefused, match="the plan changed"):
        start(deps, rel, "staging", plan.model_copy(update={"plan_hash": "0" * 64}))
    assert deployer(deps).started == []


def test_deploy_refuses_another_releases_plan(deps: FakeReleaseDeps) -> None:
    rel, other = release(1), release(2)
    plan = prepare(deps, other, "staging")
    with pytest.raises(PromotionRefused, match="is not this release's"):
        start(deps, rel, "staging", plan)


def test_a_retried_deploy_starts_no_second_deployment(deps: FakeReleaseDeps) -> None:
    rel = release(1)
    plan = prepare(deps, rel, "staging")
    assert start(deps, rel, "staging", plan) == start(deps, rel, "staging", plan)
    assert len(deployer(deps).started) == 1


def test_the_last_environment_records_the_release_succeeded(deps: FakeReleaseDeps) -> None:
    rel = release(1)
    deps.audit.release_started(rel, ["staging", "production"])
    ship(deps, rel, "staging")
    assert deps.audit.release(rel.release_id).status == "RUNNING"  # type: ignore[union-attr]
    ship(deps, rel, "production")
    assert deps.audit.release(rel.release_id).status == "SUCCEEDED"  # type: ignore[union-attr]
    assert [token for token, _ in deps.tokens.succeeded] == ["token-staging", "token-production"]
    assert deps.state.locks == {}


def test_an_event_after_the_timeout_is_recorded_without_failing(deps: FakeReleaseDeps) -> None:
    rel = release(1)
    deployment_id = start(deps, rel, "staging", prepare(deps, rel, "staging"))
    deps.tokens.gone.add("token")  # the wait timed out: Step Functions no longer accepts the token
    deployer(deps).finish(deployment_id, succeeded=True)
    result = on_deployment_event(deps, event(deployment_id))
    assert result["status"] == "SUCCEEDED"
    assert deps.state.deployment_token(deployment_id).completed_status == "SUCCEEDED"  # type: ignore[union-attr]


def test_the_timeout_check_fails_a_deployment_still_running(deps: FakeReleaseDeps) -> None:
    rel = release(1)
    start(deps, rel, "staging", prepare(deps, rel, "staging"))
    with pytest.raises(DeploymentTimedOut, match="still InProgress"):
        check_deployment(deps, CheckDeploymentInput(release=rel, environment="staging"))


# A try of Deploy created the deployment and stored its token, then failed on a later write; before Step Functions
# retried the task, the deployment ended and its event recorded the outcome and released the lock. The retry finds
# its own ended deployment: it completes its new token with that outcome instead of calling the release superseded.
@pytest.mark.parametrize("id_recorded", [True, False], ids=["deployment-id-recorded", "deployment-id-write-lost"])
@pytest.mark.parametrize("succeeded", [True, False], ids=["succeeded", "failed"])
def test_a_retried_deploy_after_its_deployment_ended_completes_with_that_outcome(
    deps: FakeReleaseDeps, id_recorded: bool, succeeded: bool
) -> None:
    rel = release(1)
    plan = prepare(deps, rel, "staging")
    first = start(deps, rel, "staging", plan, token="token-try-1")
    if not id_recorded:
        key = (rel.release_id, "staging")
        deps.state.plans[key] = dataclasses.replace(deps.state.plans[key], deployment_id=None)
    deps.tokens.gone.add("token-try-1")  # the try failed: Step Functions retries Deploy with a new token
    deployer(deps).finish(first, succeeded=succeeded, error="health checks failed")
    on_deployment_event(deps, event(first, "SUCCESS" if succeeded else "FAILURE"))
    assert deps.state.locks == {}
    assert start(deps, rel, "staging", plan, token="token-try-2") == first
    assert len(deployer(deps).started) == 1
    if succeeded:
        assert deps.tokens.succeeded == [("token-try-2", {"deployment_id": first, "status": "SUCCEEDED"})]
    else:
        [(token, error, cause)] = deps.tokens.failed
        assert (token, error) == ("token-try-2", "DeploymentFailed")
        assert f"deployment {first} to staging ended FAILED (health checks failed)" in cause


def test_a_retried_deploy_after_its_deployment_ended_ignores_the_next_lock_holder(deps: FakeReleaseDeps) -> None:
    rel, newer = release(1), release(2, minutes=1)
    plan = prepare(deps, rel, "staging")
    first = start(deps, rel, "staging", plan, token="token-try-1")
    deps.tokens.gone.add("token-try-1")
    deployer(deps).finish(first, succeeded=True)
    on_deployment_event(deps, event(first))
    prepare(deps, newer, "staging")  # the next release takes the freed lock
    assert start(deps, rel, "staging", plan, token="token-try-2") == first
    assert deps.tokens.succeeded == [("token-try-2", {"deployment_id": first, "status": "SUCCEEDED"})]
    assert deps.state.lock("web-app", "staging").holder == newer.release_id  # type: ignore[union-attr]


def test_a_deploy_whose_lock_went_without_a_deployment_of_its_own_is_superseded(deps: FakeReleaseDeps) -> None:
    rel = release(1)
    plan = prepare(deps, rel, "staging")
    deps.state.locks.clear()
    with pytest.raises(Superseded, match="Superseded by nobody"):
        start(deps, rel, "staging", plan)
    assert deployer(deps).started == []
