"""Attempts of a release: `slipway retry` and a new CodePipeline job start attempt n+1 of a release that ended
without succeeding; automatic duplicates still start nothing; promotion reads the current attempt's own results."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from slipway.domain.config import LocalConfigSource, load_config
from slipway.domain.intake.codepipeline_job import run_codepipeline_job
from slipway.domain.intake.ports import JobDeps
from slipway.domain.intake.retry import RetryRefused, latest_attempt, next_attempt
from slipway.domain.intake.start import start_release
from slipway.domain.release.deploy import start_deployment
from slipway.domain.release.events import on_deployment_event
from slipway.domain.release.prepare import prepare_environment
from slipway.errors import PromotionRefused
from slipway.models.config import SlipwayConfig
from slipway.models.events import CodeDeployStateChangeEvent, CodePipelineJob
from slipway.models.payloads import PrepareEnvironmentInput, StartDeploymentInput
from slipway.models.records import ExecutionState, ResolvedImage, StartOutcome
from slipway.models.release import (
    EXECUTION_NAME_MAX,
    MAX_ATTEMPTS,
    Release,
    ReleaseInput,
    attempt_release_id,
    first_attempt_id,
    release_id_for,
)
from tests.support.clock import Clock
from tests.support.fakes import FakeDeployer, FakeReleaseDeps, InMemoryAudit
from tests.support.paths import CONFIG, load_event
from tests.support.releases import a_release as release_of

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
MACHINE = "arn:aws:states:eu-west-2:123456789012:stateMachine:slipway-release-test"


def a_release(n: int = 1) -> Release:
    return release_of(n, salt="attempts", pushed_at=T0)


@dataclass
class Executions:
    """Step Functions as far as starting goes: a name is used once."""

    names: list[str] = field(default_factory=list)
    calls: int = 0

    def start_release(self, release_input: ReleaseInput) -> StartOutcome:
        self.calls += 1
        name = release_input.release.release_id
        arn = f"{MACHINE.replace(':stateMachine:', ':execution:')}:{name}"
        if name in self.names:
            return StartOutcome("duplicate", arn)
        self.names.append(name)
        return StartOutcome("started", arn)

    def describe(self, execution_arn: str) -> ExecutionState:
        return ExecutionState("RUNNING")


# ---------------------------------------------------------------------------------------------- names
def test_attempt_one_keeps_the_release_id_and_later_attempts_are_suffixed_within_80_characters() -> None:
    first = release_id_for("p" * 40, "sha256:" + "f" * 64)
    assert attempt_release_id(first, 1) == first
    assert attempt_release_id(first, 2) == f"{first}-a2"
    assert len(attempt_release_id(first, MAX_ATTEMPTS)) <= EXECUTION_NAME_MAX
    with pytest.raises(ValueError, match="attempt must be between"):
        attempt_release_id(first, MAX_ATTEMPTS + 1)
    retried = a_release().model_copy(update={"release_id": f"{a_release().release_id}-a7", "attempt": 7})
    assert first_attempt_id(retried) == a_release().release_id


# ---------------------------------------------------------------------------------------------- retry
def test_only_a_finished_unsuccessful_release_can_be_retried() -> None:
    audit = InMemoryAudit(Clock(T0))
    release = a_release()
    audit.release_started(release, ["staging", "production"])
    with pytest.raises(RetryRefused, match="still running"):
        next_attempt(audit.records[release.release_id])
    audit.release_finished(release.release_id, "SUCCEEDED")
    with pytest.raises(RetryRefused, match="nothing to retry"):
        next_attempt(audit.records[release.release_id])
    for status in ("FAILED", "REJECTED", "EXPIRED", "SUPERSEDED"):
        audit.release_finished(release.release_id, status)
        second = next_attempt(audit.records[release.release_id])
        assert (second.release_id, second.attempt, second.retry_of) == (
            f"{release.release_id}-a2",
            2,
            release.release_id,
        )
        assert (second.digest, second.pushed_at, second.tags) == (release.digest, release.pushed_at, release.tags)


def test_a_retry_starts_attempt_n_plus_one_and_links_the_attempts_both_ways() -> None:
    audit, executions = InMemoryAudit(Clock(T0)), Executions()
    first = a_release()
    start_release(first, ["staging", "production"], starter=executions, audit=audit)
    audit.release_finished(first.release_id, "FAILED", "staging: health checks failed")

    second = next_attempt(latest_attempt(audit, audit.records[first.release_id]))
    outcome = start_release(second, ["staging", "production"], starter=executions, audit=audit)
    assert outcome.status == "started"
    assert executions.names == [first.release_id, f"{first.release_id}-a2"]
    assert audit.records[first.release_id].retried_by == second.release_id
    assert audit.records[second.release_id].attempt == 2
    # Asked about attempt 1 again: the latest attempt is the one that counts, and it is still running.
    with pytest.raises(RetryRefused, match="still running"):
        next_attempt(latest_attempt(audit, audit.records[first.release_id]))
    audit.release_finished(second.release_id, "REJECTED")
    third = next_attempt(latest_attempt(audit, audit.records[first.release_id]))
    assert (third.release_id, third.retry_of) == (f"{first.release_id}-a3", second.release_id)


def test_an_automatic_duplicate_still_costs_one_call_and_starts_nothing() -> None:
    audit, executions = InMemoryAudit(Clock(T0)), Executions()
    first = a_release()
    start_release(first, ["staging", "production"], starter=executions, audit=audit)
    audit.release_finished(first.release_id, "FAILED")
    executions.calls = 0
    again = start_release(first, ["staging", "production"], starter=executions, audit=audit)
    assert (again.status, executions.calls, executions.names) == ("duplicate", 1, [first.release_id])


# ---------------------------------------------------------------------------------------------- CodePipeline
class Jobs:
    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self.results: list[tuple[str, str, dict[str, Any]]] = []

    def download_artifact(self, job: CodePipelineJob, index: int) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, text in self.files.items():
                archive.writestr(name, text)
        return buffer.getvalue()

    def put_success(self, job_id: str, **kwargs: Any) -> None:
        self.results.append(("success", job_id, kwargs))

    def put_failure(self, job_id: str, message: str, **kwargs: Any) -> None:
        self.results.append(("failure", job_id, {"message": message, **kwargs}))


class Images:
    def __init__(self, digest: str) -> None:
        self.digest = digest

    def resolve(self, registry_id: str, repository: str, tag: str | None, digest: str | None) -> ResolvedImage:
        return ResolvedImage(self.digest, [tag] if tag else [], T0)


def job_event(job_id: str) -> dict[str, Any]:
    event = load_event("codepipeline-job.json")
    event["CodePipeline.job"]["id"] = job_id
    return event


def test_a_new_codepipeline_job_for_a_failed_digest_starts_the_next_attempt_and_the_same_job_follows() -> None:
    config = load_config(LocalConfigSource(CONFIG))
    release = a_release()
    audit, executions = InMemoryAudit(Clock(T0)), Executions()
    uri = f"123456789012.dkr.ecr.eu-west-2.amazonaws.com/app-images:{release.tags[0]}"
    jobs = Jobs({"imageDetail.json": json.dumps({"ImageURI": uri}), "taskdef-staging.json": "{}"})
    deps = JobDeps(config=lambda: config, starter=executions, audit=audit, jobs=jobs, images=Images(release.digest))

    assert run_codepipeline_job(job_event("job-1"), deps).release_id == release.release_id
    # Still running: a second job follows attempt 1.
    assert run_codepipeline_job(job_event("job-2"), deps).release_id == release.release_id
    audit.release_finished(release.release_id, "FAILED", "staging: health checks failed")
    # The same job again (a redelivery) follows the attempt that failed ...
    assert run_codepipeline_job(job_event("job-1"), deps).release_id == release.release_id
    assert executions.names == [release.release_id]
    # ... a new job (the stage retried after a fix) starts attempt 2 with its own artifact.
    retried = run_codepipeline_job(job_event("job-3"), deps)
    assert retried.release_id == f"{release.release_id}-a2"
    assert "attempt 2" in retried.message and retried.execution_arn and retried.execution_arn.endswith("-a2")
    second = audit.records[f"{release.release_id}-a2"].release
    assert (second.codepipeline_job_id, second.attempt, second.retry_of) == ("job-3", 2, release.release_id)
    assert audit.records[release.release_id].retried_by == second.release_id
    # and a job arriving while attempt 2 runs follows attempt 2.
    assert run_codepipeline_job(job_event("job-4"), deps).execution_arn == retried.execution_arn


# ---------------------------------------------------------------------------------------------- promotion per attempt
@pytest.fixture
def config() -> SlipwayConfig:
    return load_config(LocalConfigSource(CONFIG))


def deps_for(config: SlipwayConfig) -> FakeReleaseDeps:
    return FakeReleaseDeps(config_fn=lambda: config, source=LocalConfigSource(CONFIG), clock=Clock(T0))


def ship(deps: FakeReleaseDeps, release: Release, environment: str, *, succeeded: bool = True) -> None:
    plan = prepare_environment(deps, PrepareEnvironmentInput(release=release, environment=environment))
    task = StartDeploymentInput(
        task_token=f"t-{release.release_id}-{environment}",
        release=release,
        environment=environment,
        plan=plan,
        environments=["staging", "production"],
    )
    deployment_id = str(start_deployment(deps, task)["deployment_id"])
    deployer: FakeDeployer = deps.deployers["codedeploy"]
    deployer.finish(deployment_id, succeeded=succeeded, error=None if succeeded else "health checks failed")
    raw = load_event("codedeploy-deployment-success.json")
    raw["detail"].update(deploymentId=deployment_id, state="SUCCESS" if succeeded else "FAILURE")
    on_deployment_event(deps, CodeDeployStateChangeEvent.model_validate(raw))


def attempt_two(deps: FakeReleaseDeps, first: Release) -> Release:
    deps.audit.release_finished(first.release_id, "FAILED", "production failed")
    second = next_attempt(deps.audit.records[first.release_id])
    deps.audit.release_started(second, ["staging", "production"])
    return second


def test_an_attempt_is_never_promoted_on_an_earlier_attempts_success(config: SlipwayConfig) -> None:
    deps = deps_for(config)
    first = a_release()
    deps.audit.release_started(first, ["staging", "production"])
    ship(deps, first, "staging")
    second = attempt_two(deps, first)
    with pytest.raises(PromotionRefused, match=rf"has not succeeded in staging in release {second.release_id}"):
        prepare_environment(deps, PrepareEnvironmentInput(release=second, environment="production"))


def test_an_attempt_is_promoted_on_its_own_success_whatever_an_earlier_attempt_did(config: SlipwayConfig) -> None:
    deps = deps_for(config)
    first = a_release()
    deps.audit.release_started(first, ["staging", "production"])
    ship(deps, first, "staging", succeeded=False)
    second = attempt_two(deps, first)
    ship(deps, second, "staging")
    plan = prepare_environment(deps, PrepareEnvironmentInput(release=second, environment="production"))
    assert (plan.release_id, plan.environment) == (second.release_id, "production")


def test_deploy_checks_the_status_of_the_previous_environment_again(config: SlipwayConfig) -> None:
    """Between PrepareEnvironment and Deploy the previous environment's result can change (a late FAILURE
    recorded over it): Deploy refuses on the status, not only on the digest."""
    deps = deps_for(config)
    release = a_release()
    deps.audit.release_started(release, ["staging", "production"])
    ship(deps, release, "staging")
    plan = prepare_environment(deps, PrepareEnvironmentInput(release=release, environment="production"))
    deps.audit.environment_finished(release, "staging", "FAILED", cause="rolled back after the fact")
    task = StartDeploymentInput(
        task_token="t", release=release, environment="production", plan=plan, environments=["staging", "production"]
    )
    with pytest.raises(PromotionRefused, match=r"staging: FAILED"):
        start_deployment(deps, task)
    assert len(deps.deployers["codedeploy"].started) == 1  # staging's only
