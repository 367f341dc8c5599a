"""Every handler parses before it does anything: a malformed payload of any kind ends in ``MalformedEvent`` naming
what is wrong (never a TypeError, KeyError or a raw pydantic ValidationError), before any AWS call (there is no
AWS here: the handlers would fail another way if they reached one)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.support.handlers import invoke
from tests.support.paths import ROOT, load_event

from slipway.errors import MalformedEvent
from slipway.models.records import AuditKind

GARBAGE: list[Any] = [{}, [], "text", 7, None, {"release": 5}, {"detail": "x"}]
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


def test_the_slack_callback_answers_garbage_with_401() -> None:
    for payload in GARBAGE:
        assert invoke("slack_interactions", payload)["statusCode"] == 401


def test_every_audit_kind_has_a_writer_and_no_writer_uses_a_string() -> None:
    package = ROOT / "layers" / "slipway" / "slipway"
    code = "\n".join(p.read_text() for p in package.rglob("*.py") if p.name != "records.py")
    unwritten = [kind.name for kind in AuditKind if f"AuditKind.{kind.name}" not in code]
    assert unwritten == []
    assert re.findall(r"\.event\(\s*[^,]+,\s*[\"']", code) == []  # audit.event(release_id, "plan", ...)
