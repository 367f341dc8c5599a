"""Every handler parses before it does anything: a malformed payload of any kind ends in ``MalformedEvent`` naming
what is wrong (never a TypeError, KeyError or a raw pydantic ValidationError), before any AWS call (there is no
AWS here: the handlers would fail another way if they reached one)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from tests.support.handlers import invoke
from tests.support.paths import ROOT, load_event

from slipway.errors import MalformedEvent
from slipway.models.events import (
    CODEDEPLOY_STATE_CHANGE,
    ECS_DEPLOYMENT_STATE_CHANGE,
    ECS_HOOK_STATE_CHANGE,
)
from slipway.models.records import AuditKind

GARBAGE: list[Any] = [{}, [], "text", 7, None, {"release": 5}, {"detail": "x"}]


def spoiled(name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """events/<name> with ``change`` made: the right ``detail-type``, a field of the wrong type inside."""
    event = load_event(name)
    change(event)
    return event


def token_of_five(event: dict[str, Any]) -> str:
    """The SNS message of a CodePipeline approval whose token is a number."""
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    message["approval"]["token"] = 5
    return json.dumps(message)


# Events whose ``detail-type`` picks a branch of a handler (ECS hook and CodeDeploy READY in request_approval,
# CodeDeploy and ECS in deployment_events, CloudTrail and ECR in ecr_push), and the other entry points (an SNS
# record, a CodePipeline job, the timeout check), each wrong: every handler gets every one of them.
BARE: list[tuple[str, Any]] = [
    ("ecs-hook-detail-text", {"detail-type": ECS_HOOK_STATE_CHANGE, "detail": "x"}),
    ("codedeploy-detail-empty", {"detail-type": CODEDEPLOY_STATE_CHANGE, "detail": {}}),
    ("codedeploy-detail-text", {"detail-type": CODEDEPLOY_STATE_CHANGE, "detail": "x"}),
    ("ecs-deployment-detail-list", {"detail-type": ECS_DEPLOYMENT_STATE_CHANGE, "detail": []}),
    ("cloudtrail-detail-null", {"detail-type": "AWS API Call via CloudTrail", "detail": None}),
    ("ecr-detail-number", {"detail-type": "ECR Image Action", "detail": 7}),
    ("codepipeline-job-text", {"CodePipeline.job": "x"}),
]
# Events that are whole but for one field of the wrong type: (id, the handler whose branch reads it, the field its
# MalformedEvent names, the event).
SPOILED: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "ecs-hook-event-name-list",
        "request_approval",
        "detail.eventName",
        spoiled("ecs-hook-awaiting-action.json", lambda e: e["detail"].update(eventName=["HOOK_AWAITING_ACTION"])),
    ),
    (
        "codedeploy-ready-deployment-id-number",
        "request_approval",
        "detail.deploymentId",
        spoiled("codedeploy-deployment-success.json", lambda e: e["detail"].update(state="READY", deploymentId=7)),
    ),
    (
        "codedeploy-success-deployment-id-number",
        "deployment_events",
        "detail.deploymentId",
        spoiled("codedeploy-deployment-success.json", lambda e: e["detail"].update(deploymentId=7)),
    ),
    (
        "ecs-deployment-id-object",
        "deployment_events",
        "detail.deploymentId",
        spoiled("ecs-deployment-failed.json", lambda e: e["detail"].update(deploymentId={"id": "ecs-svc/1"})),
    ),
    (
        "check-deployment-wrong-types",
        "deployment_events",
        "check_deployment.environment",
        {"check_deployment": {"release": 5, "environment": []}},
    ),
    (
        "cloudtrail-repository-number",
        "ecr_push",
        "detail.requestParameters.repositoryName",
        spoiled("cloudtrail-ecr-putimage.json", lambda e: e["detail"]["requestParameters"].update(repositoryName=5)),
    ),
    (
        "ecr-push-digest-number",
        "ecr_push",
        "detail.image-digest",
        spoiled("ecr-push.json", lambda e: e["detail"].update({"image-digest": 5})),
    ),
    (
        "sns-approval-token-number",
        "codepipeline_approval",
        "approval.token",
        spoiled("sns-codepipeline-approval.json", lambda e: e["Records"][0]["Sns"].update(Message=token_of_five(e))),
    ),
]
BRANCH_GARBAGE = [pytest.param(p, id=i) for i, p in BARE] + [pytest.param(p, id=i) for i, _, _, p in SPOILED]
# The functions the state machine or EventBridge/SNS invoke; the Slack callback answers 401 instead (its own test).
FUNCTIONS = [
    "ecr_push",
    "codepipeline_job",
    "codepipeline_approval",
    "prepare_environment",
    "request_approval",
    "start_deployment",
    "deployment_events",
    "finalize_release",
]


@pytest.fixture(autouse=True)
def _function_settings(monkeypatch: pytest.MonkeyPatch) -> Any:
    """What every function has on Lambda (its template environment); nothing behind these names exists here."""
    from slipway.wiring import reset_wiring

    for key, value in {
        "SLIPWAY_ENVIRONMENT": "test",
        "SLIPWAY_STATE_TABLE": "state",
        "SLIPWAY_AUDIT_TABLE": "audit",
        "SLIPWAY_CONFIG_LOCATION": str(ROOT / "config"),
        "SLIPWAY_SLACK_SECRET_ARN": "arn:aws:secretsmanager:eu-west-2:123456789012:secret:slack",
        "SLIPWAY_STATE_MACHINE_ARN": "arn:aws:states:eu-west-2:123456789012:stateMachine:slipway-release-test",
    }.items():
        monkeypatch.setenv(key, value)
    reset_wiring()
    yield
    reset_wiring()


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("payload", GARBAGE, ids=lambda p: type(p).__name__ + str(p)[:12])
def test_garbage_is_a_malformed_event(function: str, payload: Any) -> None:
    with pytest.raises(MalformedEvent) as raised:
        invoke(function, payload)
    assert str(raised.value)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("payload", BRANCH_GARBAGE)
def test_garbage_in_every_branch_is_a_malformed_event(function: str, payload: dict[str, Any]) -> None:
    with pytest.raises(MalformedEvent) as raised:
        invoke(function, copy.deepcopy(payload))
    assert str(raised.value)


@pytest.mark.parametrize(
    ("function", "payload", "names"),
    [
        ("prepare_environment", {"release": load_event("ecr-push.json")}, "release.release_id"),
        ("start_deployment", {"release": {}, "environment": "x"}, "task_token"),
        ("finalize_release", {"release": {}, "error": {"Cause": "x"}}, "error.Error"),
        ("deployment_events", {"check_deployment": {"environment": "staging"}}, "check_deployment.release"),
        ("request_approval", {"task_token": "t", "environment": "production"}, "plan"),
    ],
)
def test_the_problem_names_the_field(function: str, payload: dict[str, Any], names: str) -> None:
    with pytest.raises(MalformedEvent, match=re.escape(names)):
        invoke(function, payload)


@pytest.mark.parametrize(("function", "names", "payload"), [pytest.param(f, n, p, id=i) for i, f, n, p in SPOILED])
def test_a_wrongly_typed_field_in_a_branch_is_named(function: str, names: str, payload: dict[str, Any]) -> None:
    with pytest.raises(MalformedEvent, match=re.escape(names)):
        invoke(function, copy.deepcopy(payload))


def test_the_slack_callback_answers_garbage_with_401() -> None:
    for payload in [*GARBAGE, *(p for _, p in BARE), *(p for *_, p in SPOILED)]:
        assert invoke("slack_interactions", payload)["statusCode"] == 401


def test_every_audit_kind_has_a_writer_and_no_writer_uses_a_string() -> None:
    package = ROOT / "layers" / "slipway" / "slipway"
    code = "\n".join(p.read_text() for p in package.rglob("*.py") if p.name != "records.py")
    unwritten = [kind.name for kind in AuditKind if f"AuditKind.{kind.name}" not in code]
    assert unwritten == []
    assert re.findall(r"\.event\(\s*[^,]+,\s*[\"']", code) == []  # audit.event(release_id, "plan", ...)
