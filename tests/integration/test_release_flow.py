"""The release flow's domain functions one at a time, on moto (DynamoDB, ECS, CodeDeploy, ECR), the fake Slack
over loopback HTTP, and botocore Stubbers where moto has no behaviour to offer (task tokens, CodeDeploy's
errorInformation / rollbackInfo, ECR scan findings)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws
from slipway.adapters.locks import StateStore
from tests.support.paths import CONFIG, ROOT, load_event

from slipway.adapters.audit import AuditLog
from slipway.adapters.codedeploy import CodeDeploy, EcrScans, TaskTokens
from slipway.adapters.ecs import EcsRegistry
from slipway.adapters.slack import SlackClient
from slipway.domain.config import LocalConfigSource, load_config
from slipway.domain.notify import ReleaseNotifier
from slipway.domain.release import (
    ReleaseDeps,
    check_deployment,
    finalize_release,
    handle_deployment_event,
    outcome_for,
    prepare_environment,
    start_deployment,
)
from slipway.errors import (
    DeploymentFailed,
    DeploymentTimedOut,
    LockBusy,
    MalformedEvent,
    PromotionRefused,
    Superseded,
    TransientError,
)
from slipway.models.config import ScanGate, SlipwayConfig
from slipway.models.release import Plan, Release, release_id_for
from slipway_dev.cli import main
from slipway_dev.cli.rollback import RollbackError, choose_record
from slipway_dev.local.fake_slack import FakeSlack
from slipway_dev.template import load_template, table_kwargs

pytestmark = pytest.mark.integration

REGION = "eu-west-2"
STATE_TABLE = "slipway-state-test"
AUDIT_TABLE = "slipway-audit-test"
APP = "codedeploy-app"
GROUPS = {"staging": "codedeploy-deployment-group-staging", "production": "codedeploy-deployment-group-production"}
CLUSTERS = ["staging-app-cluster", "production-app-cluster"]
T0 = datetime(2024, 6, 30, 12, 0, tzinfo=UTC)


def make_release(n: int, *, minutes: int = 0) -> Release:
    digest = "sha256:" + hashlib.sha256(f"image-{n}".encode()).hexdigest()
    return Release(
        release_id=release_id_for("web-app", digest),
        pipeline="web-app",
        registry="123456789012.dkr.ecr.eu-west-2.amazonaws.com",
        repository="app-images",
        digest=digest,
        tags=[f"{n:040x}"],
        commit=f"{n:040x}",
        pushed_at=T0 + timedelta(minutes=minutes),
    )


def create_table(client: Any, logical_id: str, name: str) -> None:
    client.create_table(**table_kwargs(load_template(), logical_id, name))


@dataclass
class Env:
    session: boto3.Session
    slack: FakeSlack
    config: SlipwayConfig
    voided: list[tuple[str, str]] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=REGION)

    def with_pipeline(self, **update: Any) -> None:
        pipeline = self.config.pipelines["web-app"].model_copy(update=update)
        self.config = self.config.model_copy(update={"pipelines": {"web-app": pipeline}})

    def with_environment(self, name: str, **update: Any) -> None:
        pipeline = self.config.pipelines["web-app"]
        envs = [e.model_copy(update=update) if e.name == name else e for e in pipeline.environments]
        self.with_pipeline(environments=envs)

    def deps(self, *, codedeploy: Any = None, sfn: Any = None, ecr: Any = None) -> ReleaseDeps:
        dynamodb = self.client("dynamodb")
        audit = AuditLog(dynamodb, AUDIT_TABLE)

        def void(release_id: str, reason: str) -> int:
            self.voided.append((release_id, reason))
            return 1

        return ReleaseDeps(
            config=lambda: self.config,
            state=StateStore(dynamodb, STATE_TABLE),
            audit=audit,
            codedeploy=CodeDeploy(codedeploy or self.client("codedeploy")),
            scans=EcrScans(ecr or self.client("ecr")),
            tokens=TaskTokens(sfn or self.client("stepfunctions"), lambda _m: None),
            source=LocalConfigSource(CONFIG),
            notifier_factory=lambda: ReleaseNotifier(
                SlackClient("xoxb-test", self.slack.base_url), audit, tries=1, sleep=lambda _s: None
            ),
            registry_factory=lambda: EcsRegistry(self.client("ecs")),
            void_approvals=void,
            expire_approvals=lambda release_id: self.expired.append(release_id) or 1,
        )


@pytest.fixture
def env() -> Iterator[Env]:
    slack = FakeSlack().start()
    try:
        with mock_aws():
            session = boto3.Session(region_name=REGION)
            dynamodb = session.client("dynamodb")
            create_table(dynamodb, "StateTable", STATE_TABLE)
            create_table(dynamodb, "AuditTable", AUDIT_TABLE)
            ecs = session.client("ecs")
            for cluster in CLUSTERS:
                ecs.create_cluster(clusterName=cluster)
            codedeploy = session.client("codedeploy")
            codedeploy.create_application(applicationName=APP, computePlatform="ECS")
            for name, group in GROUPS.items():
                codedeploy.create_deployment_group(
                    applicationName=APP,
                    deploymentGroupName=group,
                    serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
                    deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
                    ecsServices=[{"serviceName": f"{name}-app-service", "clusterName": f"{name}-app-cluster"}],
                )
            yield Env(session=session, slack=slack, config=load_config(LocalConfigSource(CONFIG)))
    finally:
        slack.stop()


def lock_holder(env: Env, environment: str) -> str | None:
    lock = StateStore(env.client("dynamodb"), STATE_TABLE).lock("web-app", environment)
    return str(lock["holder"]) if lock else None


def start(env: Env, release: Release, environment: str, plan: dict[str, Any], token: str = "token-1") -> str:
    result = start_deployment(
        env.deps(),
        task_token=token,
        release=release,
        environment=environment,
        plan=Plan.model_validate(plan),
        environments=["staging", "production"],
    )
    return str(result["deployment_id"])


def deployment_event(deployment_id: str, state: str = "SUCCESS") -> dict[str, Any]:
    event = load_event("codedeploy-deployment-success.json")
    event["detail"]["deploymentId"] = deployment_id
    event["detail"]["state"] = state
    return event


def succeed_environment(env: Env, release: Release, environment: str) -> str:
    """prepare -> start -> SUCCESS event, with the token completion checked by a Stubber."""
    plan = prepare_environment(env.deps(), release, environment)
    deployment_id = start(env, release, environment, plan, token=f"token-{environment}")
    sfn = env.client("stepfunctions")
    with Stubber(sfn) as stub:
        stub.add_response(
            "send_task_success",
            {},
            {
                "taskToken": f"token-{environment}",
                "output": json.dumps({"deployment_id": deployment_id, "status": "SUCCEEDED"}),
            },
        )
        handle_deployment_event(env.deps(sfn=sfn), deployment_event(deployment_id))
        stub.assert_no_pending_responses()
    return deployment_id


# ------------------------------------------------------------------------------------------------ prepare
def test_prepare_takes_the_lock_and_writes_the_plan(env: Env) -> None:
    release = make_release(1)
    plan = prepare_environment(env.deps(), release, "staging")

    assert plan["environment"] == "staging"
    assert plan["digest"] == release.digest
    assert plan["approval_required"] is False
    assert plan["deployment_wait_seconds"] == 120 * 60
    assert ":task-definition/app-task-staging:" in plan["task_definition_arn"]
    assert lock_holder(env, "staging") == release.release_id
    stored = StateStore(env.client("dynamodb"), STATE_TABLE).plan(release.release_id, "staging")
    assert stored is not None
    assert stored["plan_hash"] == plan["plan_hash"]
    assert stored["task_definition_arn"] == plan["task_definition_arn"]
    events = AuditLog(env.client("dynamodb"), AUDIT_TABLE).release_items(release.release_id)
    assert [e["kind"] for e in events if "kind" in e] == ["plan"]


def test_prepare_writes_the_release_record_the_intake_did_not_get_to(env: Env) -> None:
    """The intake crashed after StartExecution: the first environment still leaves a release record."""
    release = make_release(1)
    audit = AuditLog(env.client("dynamodb"), AUDIT_TABLE)
    assert audit.release(release.release_id) is None
    prepare_environment(env.deps(), release, "staging")
    record = audit.release(release.release_id)
    assert record is not None
    assert (record["status"], record["environments"]) == ("RUNNING", ["staging", "production"])


def test_prepare_again_is_reentrant_for_the_holder(env: Env) -> None:
    release = make_release(1)
    first = prepare_environment(env.deps(), release, "staging")
    second = prepare_environment(env.deps(), release, "staging")
    assert second["task_definition_arn"] == first["task_definition_arn"]
    assert second["reused_revision"] is True


def test_queue_policy_makes_a_second_release_wait_for_the_lock(env: Env) -> None:
    env.with_pipeline(concurrency="queue")
    first, second = make_release(1), make_release(2, minutes=1)
    prepare_environment(env.deps(), first, "staging")

    with pytest.raises(LockBusy, match=first.release_id):
        prepare_environment(env.deps(), second, "staging")

    succeed_environment_after_prepare = start(env, first, "staging", prepare_environment(env.deps(), first, "staging"))
    with Stubber(sfn := env.client("stepfunctions")) as stub:
        stub.add_response("send_task_success", {}, {"taskToken": "token-1", "output": ANY})
        handle_deployment_event(env.deps(sfn=sfn), deployment_event(succeed_environment_after_prepare))
    assert lock_holder(env, "staging") is None
    prepare_environment(env.deps(), second, "staging")
    assert lock_holder(env, "staging") == second.release_id


def test_supersede_an_older_release_gives_up_on_its_next_try(env: Env) -> None:
    older, newer = make_release(1), make_release(2, minutes=5)
    prepare_environment(env.deps(), older, "staging")
    start(env, older, "staging", prepare_environment(env.deps(), older, "staging"))

    # The older release is deploying: the newer one waits (a running deployment is never preempted) ...
    with pytest.raises(LockBusy):
        prepare_environment(env.deps(), newer, "staging")
    # ... but the older one, asked to go on to its next environment, gives up.
    with pytest.raises(Superseded, match=newer.release_id):
        prepare_environment(env.deps(), older, "production")


def test_supersede_voids_an_older_release_waiting_for_approval_and_takes_its_lock(env: Env) -> None:
    older, newer = make_release(1), make_release(2, minutes=5)
    succeed_environment(env, older, "staging")
    plan = prepare_environment(env.deps(), older, "production")
    assert plan["approval_required"] is True
    assert lock_holder(env, "production") == older.release_id

    succeed_environment(env, newer, "staging")
    prepare_environment(env.deps(), newer, "production")

    assert env.voided == [(older.release_id, f"Superseded by {newer.release_id}")]
    assert lock_holder(env, "production") == newer.release_id
    # Were the older approval clicked anyway, it no longer holds the lock and must not deploy.
    with pytest.raises(Superseded):
        start(env, older, "production", plan)


def test_promotion_is_refused_when_the_previous_environment_did_not_succeed(env: Env) -> None:
    release = make_release(1)
    with pytest.raises(PromotionRefused, match="has not succeeded in staging"):
        prepare_environment(env.deps(), release, "production")
    assert lock_holder(env, "production") is None


def test_promotion_is_refused_for_a_different_digest(env: Env) -> None:
    release = make_release(1)
    audit = AuditLog(env.client("dynamodb"), AUDIT_TABLE)
    other = make_release(9)
    audit.environment_finished(other.model_copy(update={"release_id": release.release_id}), "staging", "SUCCEEDED")
    with pytest.raises(PromotionRefused, match="different digest"):
        prepare_environment(env.deps(), release, "production")


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
            prepare_environment(env.deps(ecr=ecr), release, "staging")
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
        plan = prepare_environment(env.deps(ecr=ecr), release, "staging")
    assert plan["approval_required"] is True
    assert plan["scan_findings"] == {"CRITICAL": 3, "MEDIUM": 1}


# ------------------------------------------------------------------------------------------------ deploy
def test_start_deployment_creates_an_appspec_content_deployment_and_parks_the_token(env: Env) -> None:
    release = make_release(1)
    plan = prepare_environment(env.deps(), release, "staging")
    deployment_id = start(env, release, "staging", plan, token="tok-abc")

    info = env.client("codedeploy").get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert info["applicationName"] == APP
    assert info["deploymentGroupName"] == GROUPS["staging"]
    assert info["revision"]["revisionType"] == "AppSpecContent"
    assert info["revision"]["appSpecContent"]["content"] == plan["appspec_content"]
    assert plan["task_definition_arn"] in plan["appspec_content"]
    state = StateStore(env.client("dynamodb"), STATE_TABLE)
    token = state.deployment_token(deployment_id)
    assert token is not None
    assert token["task_token"] == "tok-abc"
    assert token["environment"] == "staging"
    assert state.lock("web-app", "staging")["phase"] == "deploying"  # type: ignore[index]
    assert any("Deploying" in m.get("text", "") for m in env.slack.messages)


def test_start_deployment_retry_reuses_the_deployment(env: Env) -> None:
    release = make_release(1)
    plan = prepare_environment(env.deps(), release, "staging")
    assert start(env, release, "staging", plan) == start(env, release, "staging", plan)
    assert len(env.client("codedeploy").list_deployments()["deployments"]) == 1


def test_success_event_records_the_environment_releases_the_lock_and_completes_the_token(env: Env) -> None:
    release = make_release(1)
    deployment_id = succeed_environment(env, release, "staging")

    audit = AuditLog(env.client("dynamodb"), AUDIT_TABLE)
    result = audit.environment_result(release.release_id, "staging")
    assert result is not None
    assert result["status"] == "SUCCEEDED"
    assert result["deployment_id"] == deployment_id
    assert result["digest"] == release.digest
    assert audit.verified_good("web-app", "staging")[0]["release_id"] == release.release_id
    assert lock_holder(env, "staging") is None
    # A redelivered event does nothing (EventBridge delivers at least once).
    again = handle_deployment_event(env.deps(), deployment_event(deployment_id))
    assert again["ignored"] is True


def test_the_last_environment_records_the_release_succeeded(env: Env) -> None:
    release = make_release(1)
    AuditLog(env.client("dynamodb"), AUDIT_TABLE).release_started(release, ["staging", "production"])
    succeed_environment(env, release, "staging")
    assert AuditLog(env.client("dynamodb"), AUDIT_TABLE).release(release.release_id)["status"] == "RUNNING"  # type: ignore[index]
    succeed_environment(env, release, "production")
    record = AuditLog(env.client("dynamodb"), AUDIT_TABLE).release(release.release_id)
    assert record is not None
    assert record["status"] == "SUCCEEDED"
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
    plan = prepare_environment(env.deps(), release, "staging")
    deployment_id = start(env, release, "staging", plan, token="tok-fail")
    codedeploy, cd_stub = stubbed_failed_deployment(env, deployment_id)
    sfn = env.client("stepfunctions")
    with cd_stub, Stubber(sfn) as stub:
        stub.add_response("send_task_failure", {}, {"taskToken": "tok-fail", "error": "DeploymentFailed", "cause": ANY})
        result = handle_deployment_event(
            env.deps(codedeploy=codedeploy, sfn=sfn), deployment_event(deployment_id, "FAILURE")
        )
        stub.assert_no_pending_responses()
    assert result["status"] == "FAILED"
    assert "HEALTH_CONSTRAINTS" in result["cause"]
    assert "d-ROLLBACK1" in result["cause"]
    assert "Automatic rollback triggered" in result["cause"]
    outcome = AuditLog(env.client("dynamodb"), AUDIT_TABLE).environment_result(release.release_id, "staging")
    assert outcome is not None
    assert outcome["status"] == "FAILED"
    assert lock_holder(env, "staging") is None
    assert AuditLog(env.client("dynamodb"), AUDIT_TABLE).verified_good("web-app", "staging") == []


def test_an_unknown_deployment_is_ignored(env: Env) -> None:
    result = handle_deployment_event(env.deps(), deployment_event("d-NOTOURS12"))
    assert result == {"ignored": True, "deployment_id": "d-NOTOURS12", "reason": "not a slipway deployment"}


def test_check_deployment_after_a_missed_event(env: Env) -> None:
    release = make_release(1)
    plan = prepare_environment(env.deps(), release, "staging")
    deployment_id = start(env, release, "staging", plan)

    with pytest.raises(DeploymentTimedOut, match="still Created"):
        check_deployment(env.deps(), release, "staging")

    from moto.codedeploy.models import codedeploy_backends

    codedeploy_backends["123456789012"][REGION].deployments[deployment_id].status = "Succeeded"
    result = check_deployment(env.deps(), release, "staging")
    assert result["status"] == "SUCCEEDED"
    assert lock_holder(env, "staging") is None
    assert AuditLog(env.client("dynamodb"), AUDIT_TABLE).environment_result(release.release_id, "staging")


def test_check_deployment_raises_deployment_failed_with_the_cause(env: Env) -> None:
    release = make_release(1)
    plan = prepare_environment(env.deps(), release, "staging")
    deployment_id = start(env, release, "staging", plan)
    codedeploy, stub = stubbed_failed_deployment(env, deployment_id)
    with stub, pytest.raises(DeploymentFailed, match="d-ROLLBACK1"):
        check_deployment(env.deps(codedeploy=codedeploy), release, "staging")


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
    got_status, got_cause = outcome_for(error)
    assert got_status == status
    assert got_cause.startswith(cause)


def test_finalize_releases_every_lock_records_and_notifies(env: Env) -> None:
    release = make_release(1)
    AuditLog(env.client("dynamodb"), AUDIT_TABLE).release_started(release, ["staging", "production"])
    prepare_environment(env.deps(), release, "staging")
    assert lock_holder(env, "staging") == release.release_id

    outcome = finalize_release(
        env.deps(),
        release,
        {"Error": "RenderError", "Cause": json.dumps({"errorMessage": "web-app/staging: 1 problem(s)"})},
    )

    assert outcome == {"status": "FAILED", "cause": "RenderError: web-app/staging: 1 problem(s)"}
    assert lock_holder(env, "staging") is None
    record = AuditLog(env.client("dynamodb"), AUDIT_TABLE).release(release.release_id)
    assert record is not None
    assert record["status"] == "FAILED"
    assert record["cause"] == outcome["cause"]
    assert any("FAILED" in m.get("text", "") for m in env.slack.messages)


def test_finalize_leaves_a_lock_another_release_holds(env: Env) -> None:
    env.with_pipeline(concurrency="queue")
    holder, other = make_release(1), make_release(2)
    prepare_environment(env.deps(), holder, "staging")
    finalize_release(env.deps(), other, {"Error": "Rejected", "Cause": "Rejected by <@U1> at now"})
    assert lock_holder(env, "staging") == holder.release_id


# ------------------------------------------------------------------------------------------------ rollback
def good_releases(env: Env, count: int) -> list[tuple[Release, str]]:
    """``count`` releases verified good in staging, oldest first: (release, its task definition ARN)."""
    audit = AuditLog(env.client("dynamodb"), AUDIT_TABLE)
    found = []
    for n in range(1, count + 1):
        release = make_release(n, minutes=n)
        audit.release_started(release, ["staging", "production"])
        succeed_environment(env, release, "staging")
        found.append((release, str(audit.verified_good("web-app", "staging", limit=1)[0]["task_definition_arn"])))
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

    plan = prepare_environment(env.deps(), rollback, "staging")
    assert plan["task_definition_arn"] == previous_arn
    assert plan["reused_revision"] is True


def test_rollback_skips_every_record_of_the_running_revision(env: Env) -> None:
    records = [
        {"task_definition_arn": "td:3", "release_id": "r-rollback"},  # a rollback to 3 that itself succeeded
        {"task_definition_arn": "td:3", "release_id": "r3"},
        {"task_definition_arn": "td:2", "release_id": "r2"},
    ]
    assert choose_record(records, None, "staging")["release_id"] == "r2"
    assert choose_record(records, "td:3", "staging")["release_id"] == "r-rollback"  # explicit: as asked
    with pytest.raises(RollbackError, match="no earlier verified-good revision"):
        choose_record(records[:2], None, "staging")


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
        prepare_environment(env.deps(), release, "staging")


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
            prepare_environment(env.deps(ecr=ecr), release, "staging")


# ------------------------------------------------------------------------------------------------ handlers
def test_malformed_deployment_events_name_the_missing_field(env: Env) -> None:
    with pytest.raises(MalformedEvent, match="detail"):
        handle_deployment_event(env.deps(), {"detail-type": "CodeDeploy Deployment State-change Notification"})
    with pytest.raises(MalformedEvent, match="deploymentId"):
        handle_deployment_event(env.deps(), {"detail": {"state": "SUCCESS"}})


def test_deployment_events_handler_refuses_other_events() -> None:
    import importlib.util

    from slipway_dev.local.handlers import LambdaContext

    path = ROOT / "functions" / "deployment_events" / "app.py"
    spec = importlib.util.spec_from_file_location("release_flow_deployment_events", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    context = LambdaContext(function_name="DeploymentEventsFunction", invoked_function_arn="arn:aws:lambda:x")
    with pytest.raises(MalformedEvent, match="ECR Image Action"):
        module.lambda_handler(load_event("ecr-push.json"), context)
    with pytest.raises(MalformedEvent, match="check_deployment expects"):
        module.lambda_handler({"check_deployment": {"release": {}}}, context)
