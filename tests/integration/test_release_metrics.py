"""The release-status, lead-time and approval-wait metrics, and the correlation id of the functions that learn
the release id late (deployment events, the Slack callback), through the real domain code on moto."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from tests.support.approvals import APPROVER_1, APPROVER_2, GateWorld
from tests.support.logs import emf_documents, json_logs, pending_metric
from tests.support.release_flow import (
    T0,
    Env,
    deployment_event,
    finalize,
    handle_event,
    make_release,
    prepare,
    start,
    succeed_environment,
)

from slipway.observability import (
    APPROVAL_WAIT_SECONDS,
    LEAD_TIME_SECONDS,
    RELEASES_EXPIRED,
    RELEASES_FAILED,
    RELEASES_REJECTED,
    RELEASES_SUCCEEDED,
    RELEASES_SUPERSEDED,
    instrument,
    logger,
    metrics,
)

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def clean_metrics() -> Any:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def test_the_last_environment_counts_the_release_succeeded_with_its_lead_time(
    env: Env,
    capsys: pytest.CaptureFixture[str],
) -> None:
    release = make_release(7)  # pushed at T0, no commit time recorded: lead time runs from the push
    env.audit().release_started(release, ["staging", "production"])
    succeed_environment(env, release, "staging")
    assert pending_metric(RELEASES_SUCCEEDED) == [] and pending_metric(LEAD_TIME_SECONDS) == []

    plan = prepare(env, release, "production")
    deployment_id = start(env, release, "production", plan, token="token-production")
    sfn = env.client("stepfunctions")

    # The CodeDeploy event carries no release id: the handler learns it from the task-token item.
    @instrument(trace=False)
    def deployment_events(event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert logger.get_correlation_id() is None
        return handle_event(env, event, sfn=sfn)

    with Stubber(sfn) as stub, json_logs() as logs:
        stub.add_response("send_task_success", {}, {"taskToken": "token-production", "output": ANY})
        before = datetime.now(UTC)
        deployment_events(deployment_event(deployment_id), None)
        after = datetime.now(UTC)

    [emf] = emf_documents(capsys.readouterr().out)
    assert emf[RELEASES_SUCCEEDED] in (1.0, [1.0])
    lead = emf[LEAD_TIME_SECONDS]
    lead = lead[0] if isinstance(lead, list) else lead
    assert (before - T0).total_seconds() - 1 <= lead <= (after - T0).total_seconds() + 1
    lines = logs.lines()
    assert lines, "the deployment event logged nothing"
    assert {line.get("correlation_id") for line in lines} == {release.release_id}


@pytest.mark.parametrize(
    ("error", "metric"),
    [
        ({"Error": "DeploymentFailed", "Cause": "CodeDeploy d-1 failed"}, RELEASES_FAILED),
        ({"Error": "Rejected", "Cause": "Rejected by <@U0APPROVER1>"}, RELEASES_REJECTED),
        ({"Error": "Expired", "Cause": ""}, RELEASES_EXPIRED),
        ({"Error": "Superseded", "Cause": "Superseded by web-app-newer"}, RELEASES_SUPERSEDED),
    ],
)
def test_finalize_counts_the_final_status_once(
    env: Env,
    error: dict[str, str],
    metric: str,
) -> None:
    release = make_release(8)
    env.audit().release_started(release, ["staging", "production"])
    finalize(env, release, error)
    assert pending_metric(metric) == [1.0]
    finalize(env, release, error)  # a redelivered FinalizeRelease
    assert pending_metric(metric) == [1.0]
    others = {RELEASES_FAILED, RELEASES_REJECTED, RELEASES_EXPIRED, RELEASES_SUPERSEDED, RELEASES_SUCCEEDED} - {metric}
    assert all(pending_metric(name) == [] for name in others)


@pytest.mark.parametrize(("action", "user"), [("slipway_approve", APPROVER_1), ("slipway_reject", APPROVER_2)])
def test_a_decision_counts_the_approval_wait_and_the_callback_logs_under_the_release(
    world_factory: Any,
    action: str,
    user: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world: GateWorld = world_factory()
    started = world.start()
    world.clock.advance(754)

    @instrument(trace=False)
    def slack_interactions(event: dict[str, Any], context: Any) -> dict[str, Any]:
        answer = world.click(started.approval_id, user, action)
        return {**answer, "correlation_id": logger.get_correlation_id()}

    with json_logs() as logs:
        answer = slack_interactions({"body": "the click itself is made by world.click"}, None)

    assert answer["status"] == 200
    assert answer["correlation_id"] == started.release.release_id
    decision = [line for line in logs.lines() if line.get("message") in ("approval granted", "approval rejected")]
    assert decision and decision[0]["correlation_id"] == started.release.release_id
    assert decision[0]["approval_id"] == started.approval_id
    [emf] = emf_documents(capsys.readouterr().out)  # flushed by instrument at the end of the invocation
    assert emf[APPROVAL_WAIT_SECONDS] in (754.0, [754.0])
    assert world.record(started.approval_id).status in ("APPROVED", "REJECTED")


def test_the_approval_wait_is_the_time_from_request_to_decision(world_factory: Any) -> None:
    world: GateWorld = world_factory()
    started = world.start()
    world.clock.advance(754)
    world.click(started.approval_id, APPROVER_1)
    assert pending_metric(APPROVAL_WAIT_SECONDS) == [754.0]


def test_a_refused_click_counts_no_approval_wait(world_factory: Any) -> None:
    world: GateWorld = world_factory()
    started = world.start()
    world.click(started.approval_id, "U0STRANGER")
    assert pending_metric(APPROVAL_WAIT_SECONDS) == []
