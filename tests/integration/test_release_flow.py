"""The release flow's domain functions one at a time, on moto (DynamoDB, ECS, CodeDeploy, ECR), the fake Slack
over loopback HTTP, and botocore Stubbers where moto has no behaviour to offer (task tokens, CodeDeploy's
errorInformation / rollbackInfo, ECR scan findings)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from tests.support.handlers import invoke
from tests.support.paths import load_event
from tests.support.release_flow import (
    APP,
    GROUPS,
    Env,
    check,
    deployment_event,
    finalize,
    handle_event,
    lock_holder,
    make_release,
    prepare,
    start,
    succeed_environment,
)
from tests.support.world import AUDIT_TABLE, REGION, STATE_TABLE

from slipway.adapters.state_store import StateStore
from slipway.domain.release.deploy import start_deployment
from slipway.domain.release.finalize import outcome_for
from slipway.errors import (
    DeploymentFailed,
    DeploymentTimedOut,
    LockBusy,
    MalformedEvent,
    PromotionRefused,
    Superseded,
    TransientError,
)
from slipway.models.config import ScanGate
from slipway.models.payloads import (
    StartDeploymentInput,
    TaskError,
)
from slipway.models.records import AuditKind
from slipway.models.release import Release
from slipway_dev.cli import main
from slipway_dev.iam.recorder import acting_as
from slipway_dev.local.faults import FailFirst

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------------------------------------ prepare
def test_prepare_takes_the_lock_and_writes_the_plan(env: Env) -> None:
    release = make_release(1)
    plan = prepare(env, release, "staging")

    assert plan.environment == "staging"
    assert plan.digest == release.digest
    assert plan.approval_required is False
    assert plan.deployment_wait_seconds == 120 * 60
    assert ":task-definition/app-task-staging:" in plan.task_definition_arn
    assert lock_holder(env, "staging") == release.release_id
    stored = StateStore(env.client("dynamodb"), STATE_TABLE).plan(release.release_id, "staging")
    assert stored is not None
    assert stored.plan_hash == plan.plan_hash
    assert stored.task_definition_arn == plan.task_definition_arn
    assert [e.kind for e in env.audit().events(release.release_id)] == ["plan"]


def test_prepare_writes_the_release_record_the_intake_did_not_get_to(env: Env) -> None:
    """The intake crashed after StartExecution: the first environment still leaves a release record."""
    release = make_release(1)
    audit = env.audit()
    assert audit.release(release.release_id) is None
    prepare(env, release, "staging")
    record = audit.release(release.release_id)
    assert record is not None
    assert (record.status, record.environments) == ("RUNNING", ["staging", "production"])


def test_prepare_again_is_reentrant_for_the_holder(env: Env) -> None:
    release = make_release(1)
    first = prepare(env, release, "staging")
    second = prepare(env, release, "staging")
    assert second.task_definition_arn == first.task_definition_arn
    assert second.reused_revision is True


def test_queue_policy_makes_a_second_release_wait_for_the_lock(env: Env) -> None:
    env.with_pipeline(concurrency="queue")
    first, second = make_release(1), make_release(2, minutes=1)
    prepare(env, first, "staging")

    with pytest.raises(LockBusy, match=first.release_id):
        prepare(env, second, "staging")

    succeed_environment_after_prepare = start(env, first, "staging", prepare(env, first, "staging"))
    with Stubber(sfn := env.client("stepfunctions")) as stub:
        stub.add_response("send_task_success", {}, {"taskToken": "token-1", "output": ANY})
        handle_event(env, deployment_event(succeed_environment_after_prepare), sfn=sfn)
    assert lock_holder(env, "staging") is None
    prepare(env, second, "staging")
    assert lock_holder(env, "staging") == second.release_id


def test_supersede_an_older_release_gives_up_on_its_next_try(env: Env) -> None:
    older, newer = make_release(1), make_release(2, minutes=5)
    prepare(env, older, "staging")
    start(env, older, "staging", prepare(env, older, "staging"))

    # The older release is deploying: the newer one waits (a running deployment is never preempted) ...
    with pytest.raises(LockBusy):
        prepare(env, newer, "staging")
    # ... but the older one, asked to go on to its next environment, gives up.
    with pytest.raises(Superseded, match=newer.release_id):
        prepare(env, older, "production")


def test_latest_keeps_the_newer_key_and_is_replaced_only_while_it_names_the_release_replaced(env: Env) -> None:
    store = StateStore(env.client("dynamodb"), STATE_TABLE)
    same_second = "2024-06-30T12:00:00.000000Z"
    assert store.record_latest("p", "b", f"{same_second}#sha256:bb") == "b"
    assert store.record_latest("p", "a", f"{same_second}#sha256:aa") == "b"  # the same second: the digest decides
    assert store.record_latest("p", "a", f"{same_second}#sha256:aa", replace="c") == "b"
    assert store.record_latest("p", "a", f"{same_second}#sha256:aa", replace="b") == "a"
    assert store.record_latest("p", "c", f"{same_second}#sha256:cc") == "c"


def test_a_newer_release_that_failed_in_staging_does_not_supersede_an_older_one(env: Env) -> None:
    older, newer = make_release(1), make_release(2, minutes=5)
    env.audit().release_started(newer, ["staging", "production"])
    plan = prepare(env, newer, "staging")
    deployment_id = start(env, newer, "staging", plan)
    with Stubber(sfn := env.client("stepfunctions")) as stub:
        stub.add_response("send_task_failure", {}, {"taskToken": "token-1", "error": "DeploymentFailed", "cause": ANY})
        handle_event(env, deployment_event(deployment_id, "FAILURE"), sfn=sfn)
    assert prepare(env, older, "staging").release_id == older.release_id
    assert lock_holder(env, "staging") == older.release_id


def test_supersede_voids_an_older_release_waiting_for_approval_and_takes_its_lock(env: Env) -> None:
    older, newer = make_release(1), make_release(2, minutes=5)
    succeed_environment(env, older, "staging")
    plan = prepare(env, older, "production")
    assert plan.approval_required is True
    assert lock_holder(env, "production") == older.release_id

    succeed_environment(env, newer, "staging")
    prepare(env, newer, "production")

    assert env.voided == [(older.release_id, f"Superseded by {newer.release_id}")]
    assert lock_holder(env, "production") == newer.release_id
    # Were the older approval clicked anyway, it no longer holds the lock and must not deploy.
    with pytest.raises(Superseded):
        start(env, older, "production", plan)


def test_promotion_is_refused_when_the_previous_environment_did_not_succeed(env: Env) -> None:
    release = make_release(1)
    with pytest.raises(PromotionRefused, match="has not succeeded in staging"):
        prepare(env, release, "production")
    assert lock_holder(env, "production") is None


def test_promotion_is_refused_for_a_different_digest(env: Env) -> None:
    release = make_release(1)
    audit = env.audit()
    other = make_release(9)
    audit.environment_finished(other.model_copy(update={"release_id": release.release_id}), "staging", "SUCCEEDED")
    with pytest.raises(PromotionRefused, match="different digest"):
        prepare(env, release, "production")


def test_scan_gate_refuses_findings_above_the_threshold(env: Env) -> None:
    env.with_environment("staging", scan_gate=ScanGate(threshold="HIGH", action="refuse"))
    release = make_release(1)
    ecr = env.client("ecr")
    with Stubber(ecr) as stub:
        stub.add_response(
            "describe_image_scan_findings",
            {
                "imageScanStatus": {"status": "COMPLETE"},
                "imageScanFindings": {"findingSeverityCounts": {"CRITICAL": 1, "HIGH": 2, "LOW": 7}},
            },
            {"registryId": "123456789012", "repositoryName": "app-images", "imageId": {"imageDigest": release.digest}},
        )
        with pytest.raises(PromotionRefused, match="CRITICAL 1, HIGH 2"):
            prepare(env, release, "staging", ecr=ecr)
    assert lock_holder(env, "staging") is None


def test_scan_gate_can_require_approval_with_the_counts_in_the_plan(env: Env) -> None:
    env.with_environment("staging", scan_gate=ScanGate(threshold="CRITICAL", action="require_approval"))
    release = make_release(1)
    ecr = env.client("ecr")
    with Stubber(ecr) as stub:
        stub.add_response(
            "describe_image_scan_findings",
            {
                "imageScanStatus": {"status": "COMPLETE"},
                "imageScanFindings": {"findingSeverityCounts": {"CRITICAL": 3, "MEDIUM": 1}},
            },
            {"registryId": "123456789012", "repositoryName": "app-images", "imageId": {"imageDigest": release.digest}},
        )
        plan = prepare(env, release, "staging", ecr=ecr)
    assert plan.approval_required is True
    assert plan.scan_findings == {"CRITICAL": 3, "MEDIUM": 1}


# ------------------------------------------------------------------------------------------------ deploy
def test_start_deployment_creates_an_appspec_content_deployment_and_parks_the_token(env: Env) -> None:
    release = make_release(1)
    plan = prepare(env, release, "staging")
    deployment_id = start(env, release, "staging", plan, token="tok-abc")

    info = env.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert info["applicationName"] == APP
    assert info["deploymentGroupName"] == GROUPS["staging"]
    assert info["revision"]["revisionType"] == "AppSpecContent"
    assert info["revision"]["appSpecContent"]["content"] == plan.appspec_content
    assert plan.task_definition_arn in plan.appspec_content
    state = StateStore(env.client("dynamodb"), STATE_TABLE)
    token = state.deployment_token(deployment_id)
    assert token is not None
    assert token.task_token == "tok-abc"
    assert token.environment == "staging"
    assert state.lock("web-app", "staging").phase == "deploying"  # type: ignore[union-attr]
    assert any("Deploying" in m.get("text", "") for m in env.slack.messages)


def test_start_deployment_retry_reuses_the_deployment(env: Env) -> None:
    release = make_release(1)
    plan = prepare(env, release, "staging")
    assert start(env, release, "staging", plan) == start(env, release, "staging", plan)
    assert len(env.client("codedeploy").list_deployments()["deployments"]) == 1


def test_a_retried_deploy_finds_the_deployment_it_created_instead_of_creating_another(env: Env) -> None:
    release = make_release(1)
    plan = prepare(env, release, "staging")
    deps = env.deps()
    # The first try created the deployment and stopped before recording its id (a crash, a throttled write).
    deps.state.mark_deploy_started(release.release_id, "staging")
    created = deps.deployer(env.config.pipelines["web-app"].environment("staging"), release.release_id).start(
        plan, description=f"slipway {release.release_id} -> staging"
    )
    assert start(env, release, "staging", plan) == created
    groups = [
        d["deploymentGroupName"]
        for d in env.world.client("codedeploy").batch_get_deployments(
            deploymentIds=env.client("codedeploy").list_deployments()["deployments"]
        )["deploymentsInfo"]
    ]
    assert groups == [GROUPS["staging"]]


@pytest.mark.parametrize(
    ("codedeploy_status", "completion", "outcome"),
    [("Succeeded", "send_task_success", "SUCCEEDED"), ("Failed", "send_task_failure", "FAILED")],
)
def test_a_retried_deploy_whose_deployment_already_ended_completes_its_own_task(
    env: Env, codedeploy_status: str, completion: str, outcome: str
) -> None:
    release = make_release(1)
    plan = prepare(env, release, "staging")
    deployment_id = start(env, release, "staging", plan, token="token-1")
    # The deployment ended while the first try's task was lost; its event found nothing to complete. The retried
    # Deploy (a new task token) reuses the deployment, sees it ended, and completes its own task at once.
    codedeploy, sfn = env.client("codedeploy"), env.client("stepfunctions")
    with Stubber(codedeploy) as deployments, Stubber(sfn) as tasks:
        info = {"deploymentId": deployment_id, "status": codedeploy_status, "applicationName": APP}
        deployments.add_response("get_deployment", {"deploymentInfo": info}, {"deploymentId": deployment_id})
        if outcome == "FAILED":  # the failure's cause is read from the deployment
            failed = {
                **info,
                "errorInformation": {"code": "HEALTH_CONSTRAINTS", "message": "tasks failed health checks"},
            }
            deployments.add_response("get_deployment", {"deploymentInfo": failed}, {"deploymentId": deployment_id})
        expected = {
            "taskToken": "token-2",
            **({"output": ANY} if outcome == "SUCCEEDED" else {"error": ANY, "cause": ANY}),
        }
        tasks.add_response(completion, {}, expected)
        task = StartDeploymentInput(
            task_token="token-2", release=release, environment="staging", plan=plan, environments=["staging"]
        )
        with acting_as("StartDeploymentFunction"):
            assert start_deployment(env.deps(codedeploy=codedeploy, sfn=sfn), task)["deployment_id"] == deployment_id
        tasks.assert_no_pending_responses()
    result = env.audit().environment_result(release.release_id, "staging")
    assert result is not None
    assert result.status == outcome
    assert lock_holder(env, "staging") is None


def test_success_event_records_the_environment_releases_the_lock_and_completes_the_token(env: Env) -> None:
    release = make_release(1)
    deployment_id = succeed_environment(env, release, "staging")

    audit = env.audit()
    result = audit.environment_result(release.release_id, "staging")
    assert result is not None
    assert result.status == "SUCCEEDED"
    assert result.deployment_id == deployment_id
    assert result.digest == release.digest
    assert audit.verified_good("web-app", "staging")[0].release_id == release.release_id
    assert lock_holder(env, "staging") is None
    # A redelivered event does nothing (EventBridge delivers at least once).
    again = handle_event(env, deployment_event(deployment_id))
    assert again["ignored"] is True


def test_the_last_environment_records_the_release_succeeded(env: Env) -> None:
    release = make_release(1)
    env.audit().release_started(release, ["staging", "production"])
    succeed_environment(env, release, "staging")
    assert env.audit().release(release.release_id).status == "RUNNING"  # type: ignore[union-attr]
    succeed_environment(env, release, "production")
    record = env.audit().release(release.release_id)
    assert record is not None
    assert record.status == "SUCCEEDED"
    assert any("SUCCEEDED" in m.get("text", "") for m in env.slack.messages)


def stubbed_failed_deployment(env: Env, deployment_id: str) -> Any:
    codedeploy = env.client("codedeploy")
    stub = Stubber(codedeploy)
    stub.add_response(
        "get_deployment",
        {
            "deploymentInfo": {
                "deploymentId": deployment_id,
                "applicationName": APP,
                "deploymentGroupName": GROUPS["staging"],
                "status": "Failed",
                "errorInformation": {"code": "HEALTH_CONSTRAINTS", "message": "the new tasks failed health checks"},
                "rollbackInfo": {
                    "rollbackDeploymentId": "d-ROLLBACK1",
                    "rollbackMessage": "Automatic rollback triggered by deployment failure",
                },
            }
        },
        {"deploymentId": deployment_id},
    )
    return codedeploy, stub


def test_failure_event_fails_the_token_with_the_rollback_information(env: Env) -> None:
    release = make_release(1)
    plan = prepare(env, release, "staging")
    deployment_id = start(env, release, "staging", plan, token="tok-fail")
    codedeploy, cd_stub = stubbed_failed_deployment(env, deployment_id)
    sfn = env.client("stepfunctions")
    with cd_stub, Stubber(sfn) as stub:
        stub.add_response("send_task_failure", {}, {"taskToken": "tok-fail", "error": "DeploymentFailed", "cause": ANY})
        result = handle_event(env, deployment_event(deployment_id, "FAILURE"), codedeploy=codedeploy, sfn=sfn)
        stub.assert_no_pending_responses()
    assert result["status"] == "FAILED"
    assert "HEALTH_CONSTRAINTS" in result["cause"]
    assert "d-ROLLBACK1" in result["cause"]
    assert "Automatic rollback triggered" in result["cause"]
    outcome = env.audit().environment_result(release.release_id, "staging")
    assert outcome is not None
    assert outcome.status == "FAILED"
    assert lock_holder(env, "staging") is None
    assert env.audit().verified_good("web-app", "staging") == []


def test_an_unknown_deployment_is_ignored(env: Env) -> None:
    result = handle_event(env, deployment_event("d-NOTOURS12"))
    assert result == {"ignored": True, "deployment_id": "d-NOTOURS12", "reason": "not a slipway deployment"}


def test_check_deployment_after_a_missed_event(env: Env) -> None:
    from moto.codedeploy.models import codedeploy_backends

    release = make_release(1)
    plan = prepare(env, release, "staging")
    deployment_id = start(env, release, "staging", plan)
    codedeploy_backends["123456789012"][REGION].deployments[deployment_id].status = "Succeeded"
    result = check(env, release, "staging")
    assert result["status"] == "SUCCEEDED"
    assert lock_holder(env, "staging") is None
    assert env.audit().environment_result(release.release_id, "staging")


def test_a_success_after_the_timeout_check_is_recorded_late_and_frees_the_lock_the_deployment_kept(env: Env) -> None:
    from moto.codedeploy.models import codedeploy_backends

    release = make_release(1)
    env.audit().release_started(release, ["staging", "production"])
    plan = prepare(env, release, "staging")
    deployment_id = start(env, release, "staging", plan)
    with pytest.raises(DeploymentTimedOut, match="still Created"):
        check(env, release, "staging")
    finalize(env, release, {"Error": "DeploymentTimedOut", "Cause": "timed out"})
    assert lock_holder(env, "staging") == release.release_id  # CodeDeploy still deploys: the lock stays

    codedeploy_backends["123456789012"][REGION].deployments[deployment_id].status = "Succeeded"
    result = handle_event(env, deployment_event(deployment_id))
    assert result["late"] is True
    audit = env.audit()
    assert audit.release(release.release_id).status == "FAILED"  # type: ignore[union-attr]
    assert audit.environment_result(release.release_id, "staging").status == "FAILED"  # type: ignore[union-attr]
    assert audit.verified_good("web-app", "staging") == []
    assert [e.kind.value for e in audit.events(release.release_id)][-1] == "deployment_finished_late"
    assert lock_holder(env, "staging") is None
    assert handle_event(env, deployment_event(deployment_id))["reason"] == "already completed"


def test_check_deployment_raises_deployment_failed_with_the_cause(env: Env) -> None:
    release = make_release(1)
    plan = prepare(env, release, "staging")
    deployment_id = start(env, release, "staging", plan)
    codedeploy, stub = stubbed_failed_deployment(env, deployment_id)
    with stub, pytest.raises(DeploymentFailed, match="d-ROLLBACK1"):
        check(env, release, "staging", codedeploy=codedeploy)


# ------------------------------------------------------------------------------------------------ finalize
@pytest.mark.parametrize(
    ("error", "status", "cause"),
    [
        ({"Error": "Rejected", "Cause": "Rejected by <@U0APPROVER1> at 12:00"}, "REJECTED", "Rejected by <@U0APPR"),
        ({"Error": "Expired", "Cause": "Nobody approved before the approval timed out"}, "EXPIRED", "Nobody"),
        ({"Error": "Superseded", "Cause": json.dumps({"errorMessage": "Superseded by x"})}, "SUPERSEDED", "Superse"),
        ({"Error": "DeploymentFailed", "Cause": "CodeDeploy deployment d-1 ended FAILED"}, "FAILED", "Deployment"),
        (
            {
                "Error": "PromotionRefused",
                "Cause": json.dumps({"errorMessage": "production refuses", "errorType": "P"}),
            },
            "FAILED",
            "PromotionRefused: production refuses",
        ),
        ({"Error": "States.TaskFailed", "Cause": None}, "FAILED", "States.TaskFailed"),
    ],
)
def test_outcome_mapping(error: dict[str, Any], status: str, cause: str) -> None:
    got_status, got_cause = outcome_for(TaskError.model_validate(error))
    assert got_status == status
    assert got_cause.startswith(cause)


def test_finalize_releases_every_lock_records_and_notifies(env: Env) -> None:
    release = make_release(1)
    env.audit().release_started(release, ["staging", "production"])
    prepare(env, release, "staging")
    assert lock_holder(env, "staging") == release.release_id

    outcome = finalize(
        env, release, {"Error": "RenderError", "Cause": json.dumps({"errorMessage": "web-app/staging: 1 problem(s)"})}
    )

    assert outcome == {"status": "FAILED", "cause": "RenderError: web-app/staging: 1 problem(s)"}
    assert lock_holder(env, "staging") is None
    record = env.audit().release(release.release_id)
    assert record is not None
    assert record.status == "FAILED"
    assert record.cause == outcome["cause"]
    assert any("FAILED" in m.get("text", "") for m in env.slack.messages)


def test_finalize_leaves_a_lock_another_release_holds(env: Env) -> None:
    env.with_pipeline(concurrency="queue")
    holder, other = make_release(1), make_release(2)
    prepare(env, holder, "staging")
    finalize(env, other, {"Error": "Rejected", "Cause": "Rejected by <@U1> at now"})
    assert lock_holder(env, "staging") == holder.release_id


# ------------------------------------------------------------------------------------------------ rollback
def good_releases(env: Env, count: int) -> list[tuple[Release, str]]:
    """``count`` releases verified good in staging, oldest first: (release, its task definition ARN)."""
    audit = env.audit()
    found = []
    for n in range(1, count + 1):
        release = make_release(n, minutes=n)
        audit.release_started(release, ["staging", "production"])
        succeed_environment(env, release, "staging")
        found.append((release, str(audit.verified_good("web-app", "staging", limit=1)[0].task_definition_arn)))
    return found


def test_rollback_redeploys_the_previous_verified_good_revision_without_rendering(env: Env) -> None:
    """The newest verified-good revision is the one running now: the rollback goes to the one before it."""
    (previous, previous_arn), (_, current_arn) = good_releases(env, 2)
    assert previous_arn != current_arn

    sfn = env.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="slipway-release-test",
        definition=json.dumps({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    code = main(["rollback", "web-app", "staging", "--state-machine-arn", machine, "--audit-table", AUDIT_TABLE])
    assert code == 0
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert len(executions) == 1
    started = json.loads(sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"])
    rollback = Release.model_validate(started["release"])
    assert started["environments"] == ["staging"]
    assert rollback.source == "rollback"
    assert rollback.rollback_task_definition_arn == previous_arn
    assert rollback.digest == previous.digest

    plan = prepare(env, rollback, "staging")
    assert plan.task_definition_arn == previous_arn
    assert plan.reused_revision is True


def test_rollback_with_only_the_running_revision_good_is_refused(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    [(_, current_arn)] = good_releases(env, 1)
    code = main(["rollback", "web-app", "staging", "--state-machine-arn", "arn:x", "--audit-table", AUDIT_TABLE])
    assert code == 2
    err = capsys.readouterr().err
    assert "no earlier verified-good revision" in err
    assert current_arn in err
    assert "--revision" in err


def test_rollback_dry_run_says_what_would_be_deployed_and_what_runs_now(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    (_, previous_arn), (_, current_arn) = good_releases(env, 2)
    machine = "arn:aws:states:eu-west-2:123456789012:stateMachine:none"
    args = ["rollback", "web-app", "staging", "--state-machine-arn", machine, "--audit-table", AUDIT_TABLE]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would roll back staging of web-app to {previous_arn}" in out
    assert f"runs now: {current_arn}" in out
    assert "nothing started" in out


def test_rollback_finds_local_json_in_slipway_local_dir(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`slipway local up --state-dir DIR` with SLIPWAY_LOCAL_DIR=DIR: rollback needs no other option."""
    (_, previous_arn), _ = good_releases(env, 2)
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / "local.json").write_text(
        json.dumps({"tables": {"AuditTable": AUDIT_TABLE}, "state_machine_arn": "arn:aws:states:x:1:stateMachine:m"})
    )
    monkeypatch.chdir(tmp_path)  # no .slipway here
    monkeypatch.delenv("SLIPWAY_AUDIT_TABLE", raising=False)
    monkeypatch.delenv("SLIPWAY_STATE_MACHINE_ARN", raising=False)
    monkeypatch.delenv("SLIPWAY_LOCAL_DIR", raising=False)
    assert main(["rollback", "web-app", "staging", "--dry-run"]) == 2
    assert "local.json" in capsys.readouterr().err
    monkeypatch.setenv("SLIPWAY_LOCAL_DIR", str(state_dir))
    assert main(["rollback", "web-app", "staging", "--dry-run"]) == 0
    assert previous_arn in capsys.readouterr().out


def test_rollback_to_a_revision_never_verified_good_is_refused(env: Env) -> None:
    release = make_release(1).model_copy(
        update={"rollback_task_definition_arn": "arn:aws:ecs:eu-west-2:123456789012:task-definition/x:1"}
    )
    with pytest.raises(PromotionRefused, match="never verified good"):
        prepare(env, release, "staging")


def test_rollback_cli_without_a_verified_good_revision_says_so(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["rollback", "web-app", "production", "--state-machine-arn", "arn:x", "--audit-table", AUDIT_TABLE])
    assert code == 2
    assert "no verified-good revision" in capsys.readouterr().err


def test_scan_gate_waits_while_the_scan_is_in_progress(env: Env) -> None:
    env.with_environment("staging", scan_gate=ScanGate())
    release = make_release(1)
    ecr = env.client("ecr")
    with Stubber(ecr) as stub:
        stub.add_response("describe_image_scan_findings", {"imageScanStatus": {"status": "IN_PROGRESS"}}, None)
        with pytest.raises(TransientError, match="still IN_PROGRESS"):
            prepare(env, release, "staging", ecr=ecr)


# ------------------------------------------------------------------------------------------------ handlers
def test_malformed_deployment_events_name_the_missing_field(env: Env) -> None:
    event = load_event("codedeploy-deployment-success.json")
    del event["detail"]
    with pytest.raises(MalformedEvent, match="missing field detail"):
        invoke("deployment_events", event)
    event = load_event("codedeploy-deployment-success.json")
    del event["detail"]["deploymentId"]
    with pytest.raises(MalformedEvent, match=r"missing field detail\.deploymentId"):
        invoke("deployment_events", event)


def test_deployment_events_handler_refuses_other_events() -> None:
    with pytest.raises(MalformedEvent, match="CodeDeploy Deployment State-change Notification"):
        invoke("deployment_events", load_event("ecr-push.json"))
    with pytest.raises(MalformedEvent, match="check_deployment"):
        invoke("deployment_events", {"check_deployment": {"release": {}}})


# ------------------------------------------------------------------------------------------------ transient errors
@pytest.mark.parametrize(
    ("operation", "code", "status"),
    [
        ("dynamodb.PutItem", "ThrottlingException", 400),
        ("dynamodb.PutItem", "ProvisionedThroughputExceededException", 400),
        ("dynamodb.PutItem", "InternalServerError", 500),
        ("dynamodb.GetItem", "ServiceUnavailable", 503),
    ],
)
def test_a_throttled_or_failed_call_of_any_client_is_a_transient_error(
    env: Env, operation: str, code: str, status: int
) -> None:
    """Not only the calls wrapped in transient_errors: an audit write that stays throttled must be retried by the
    state machine (TransientError), not fail the release as a raw ClientError."""
    wiring = env.world.wiring()
    FailFirst([operation], times=1, code=code, status=status).install_on_session(env.world.session)
    release = make_release(7)
    with pytest.raises(TransientError, match=f"{operation}: {code}"):
        if operation.endswith("PutItem"):
            wiring.audit.event(release.release_id, AuditKind.PLAN, environment="staging")
        else:
            wiring.audit.release(release.release_id)
    wiring.audit.event(release.release_id, AuditKind.PLAN, environment="staging")  # the next call goes through
    assert [e.kind for e in wiring.audit.events(release.release_id)] == [AuditKind.PLAN]


def test_a_refused_call_keeps_its_own_error(env: Env) -> None:
    from botocore.exceptions import ClientError

    wiring = env.world.wiring()
    FailFirst(["dynamodb.PutItem"], code="ValidationException", status=400).install_on_session(env.world.session)
    with pytest.raises(ClientError, match="ValidationException"):
        wiring.audit.event("web-app-x", AuditKind.PLAN)
