"""The approval gate's decisions on in-memory fakes: who may approve, N-of-M, the pusher rule, a changed plan,
expiry, rejection, and closing what is left. No moto, no network, no signature (``decide`` takes an
authenticated click)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from slipway.adapters.slack import SlackSecrets
from slipway.domain.approval.close import expire_approvals, void_approvals
from slipway.domain.approval.decide import Click, decide, handle_interaction
from slipway.domain.approval.ports import AppPins
from slipway.domain.approval.signature import slack_signature
from slipway.domain.config import LocalConfigSource, load_config
from slipway.errors import ConfigError, TransientError
from slipway.models.config import SlipwayConfig
from slipway.models.records import ApprovalRecord, Decision
from slipway.models.release import Release, release_id_for
from tests.support.clock import Clock
from tests.support.fakes import FakeGate
from tests.support.paths import CONFIG
from tests.support.releases import production_approval

APPROVER_1, APPROVER_2, MEMBER, PUSHER, STRANGER = "U0APPROVER1", "U0APPROVER2", "U0MEMBER", "U0PUSHER", "U0STRANGER"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def config_with(**policy: Any) -> SlipwayConfig:
    config = load_config(LocalConfigSource(CONFIG))
    pipeline = config.pipelines["web-app"]
    production = pipeline.environment("production")
    approval = type(production.approval).model_validate({**production.approval.model_dump(), **policy})
    environments = [
        production.model_copy(update={"approval": approval}) if e is production else e for e in pipeline.environments
    ]
    return config.model_copy(
        update={"pipelines": {"web-app": pipeline.model_copy(update={"environments": environments})}}
    )


def gate_with(**policy: Any) -> FakeGate:
    gate = FakeGate(config_fn=lambda: config, clock=Clock(T0))
    config = config_with(**policy)
    gate.slack.groups["S0OPS"] = [MEMBER]
    return gate


def waiting(gate: FakeGate, *, pushed_by: str | None = PUSHER) -> ApprovalRecord:
    """A production approval the gate requested; the plan it names is the current one."""
    digest = "sha256:" + hashlib.sha256(b"approval-decisions").hexdigest()
    release = Release(
        release_id=release_id_for("web-app", digest),
        pipeline="web-app",
        registry="123456789012.dkr.ecr.eu-west-2.amazonaws.com",
        repository="app-images",
        digest=digest,
        pushed_by=pushed_by,
    )
    return production_approval(gate, release)


def click(gate: FakeGate, record: ApprovalRecord, user: str, action: str = "slipway_approve") -> str:
    return decide(gate, Click(record.approval_id, action, user, f"https://hooks.slack.com/actions/{user}"))


def test_one_approver_completes_the_task_with_who_and_when() -> None:
    gate = gate_with()
    record = waiting(gate)
    assert click(gate, record, APPROVER_1) == "approved"
    [(token, output)] = gate.tasks.succeeded
    assert token == "the-token"
    assert output == {
        "approved_by": [APPROVER_1],
        "decisions": [{"user": APPROVER_1, "at": "2030-01-01T12:00:00+00:00"}],
    }
    assert gate.store.get(record.approval_id).status == "APPROVED"  # type: ignore[union-attr]


def test_n_of_m_needs_distinct_approvers_and_a_group_member_counts() -> None:
    gate = gate_with(min_approvals=2, approvers={"users": [APPROVER_1, APPROVER_2], "groups": ["S0OPS"]})
    record = waiting(gate)
    assert click(gate, record, APPROVER_1) == "pending"
    assert click(gate, record, APPROVER_1) == "refused:already_approved"
    assert gate.tasks.succeeded == []
    assert click(gate, record, MEMBER) == "approved"
    assert gate.tasks.succeeded[0][1]["approved_by"] == [APPROVER_1, MEMBER]


def test_a_stranger_is_refused_and_nothing_changes() -> None:
    gate = gate_with()
    record = waiting(gate)
    assert click(gate, record, STRANGER) == "refused:not_allowed"
    assert "not an approver" in gate.slack.ephemeral()[-1]
    assert gate.store.get(record.approval_id).status == "PENDING"  # type: ignore[union-attr]


@pytest.mark.parametrize(("allow_pusher", "outcome"), [(False, "refused:pusher"), (True, "approved")])
def test_the_pusher_rule(allow_pusher: bool, outcome: str) -> None:
    gate = gate_with(allow_pusher=allow_pusher, approvers={"users": [APPROVER_1, PUSHER]})
    record = waiting(gate, pushed_by=PUSHER)
    assert click(gate, record, PUSHER) == outcome


def test_a_changed_plan_voids_the_approval_and_fails_the_task() -> None:
    gate = gate_with()
    record = waiting(gate)
    gate.store.plans[(str(record.release_id), "production")] = "2" * 64  # prepared again, differently
    assert click(gate, record, APPROVER_1) == "refused:plan_changed"
    assert gate.store.get(record.approval_id).status == "VOID"  # type: ignore[union-attr]
    [(token, error, cause)] = gate.tasks.failed
    assert (token, error) == ("the-token", "Superseded") and "plan changed" in cause


def test_an_expired_approval_refuses_the_click_and_says_expired() -> None:
    gate = gate_with()
    record = waiting(gate)
    gate.clock.advance(3601)
    assert click(gate, record, APPROVER_1) == "refused:expired"
    assert gate.store.get(record.approval_id).status == "EXPIRED"  # type: ignore[union-attr]
    assert gate.tasks.succeeded == [] and gate.tasks.failed == []


def test_a_rejection_fails_the_task_naming_who() -> None:
    gate = gate_with()
    record = waiting(gate)
    assert click(gate, record, APPROVER_2, "slipway_reject") == "rejected"
    [(_, error, cause)] = gate.tasks.failed
    assert error == "Rejected" and f"<@{APPROVER_2}>" in cause
    assert click(gate, record, APPROVER_1) == "refused:decided"


def test_a_token_nobody_waits_on_is_said_in_slack() -> None:
    gate = gate_with()
    record = waiting(gate)
    gate.tasks.gone.add("the-token")
    assert click(gate, record, APPROVER_1) == "refused:token_gone"
    assert "no longer waits" in gate.slack.ephemeral()[-1]


def test_void_and_expire_close_only_what_is_pending() -> None:
    gate = gate_with()
    record = waiting(gate)
    assert void_approvals(gate, str(record.release_id), "Superseded by web-app-newer") == 1
    assert void_approvals(gate, str(record.release_id), "again") == 0
    assert expire_approvals(gate, str(record.release_id)) == 0
    assert gate.store.get(record.approval_id).status == "SUPERSEDED"  # type: ignore[union-attr]
    assert gate.tasks.failed[0][1] == "Superseded"


# ---------------------------------------------------------------------------------------------- team and app pins
def signed_click(gate: FakeGate, record: ApprovalRecord, user: str, *, team: str, app: str) -> dict[str, Any]:
    """The API Gateway event of a click from workspace ``team`` and app ``app``, signed with the gate's secret."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": team},
        "team": {"id": team, "domain": "example"},
        "api_app_id": app,
        "response_url": f"https://hooks.slack.com/actions/{team}/1/x",
        "actions": [{"action_id": "slipway_approve", "value": record.approval_id}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    stamp = str(int(gate.clock().timestamp()))
    return {
        "headers": {
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": slack_signature(gate.secret, stamp, body.encode()),
        },
        "body": body,
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("team", "app", "status"),
    [("T0OURS", "A0OURS", 200), ("T0OTHER", "A0OURS", 403), ("T0OURS", "A0OTHER", 403), ("T0OTHER", "A0OTHER", 403)],
)
def test_pinned_team_and_app_refuse_clicks_from_elsewhere(team: str, app: str, status: int) -> None:
    gate = gate_with()
    gate.pins = AppPins(team_id="T0OURS", app_id="A0OURS")
    record = waiting(gate)
    assert handle_interaction(gate, signed_click(gate, record, APPROVER_1, team=team, app=app))["statusCode"] == status
    expected = "APPROVED" if status == 200 else "PENDING"
    assert gate.store.get(record.approval_id).status == expected  # type: ignore[union-attr]
    assert len(gate.tasks.succeeded) == (1 if status == 200 else 0)


def test_without_pins_any_signed_click_is_decided_on_its_merits() -> None:
    gate = gate_with()
    record = waiting(gate)
    assert (
        handle_interaction(gate, signed_click(gate, record, APPROVER_1, team="T0ANY", app="A0ANY"))["statusCode"] == 200
    )
    assert gate.store.get(record.approval_id).status == "APPROVED"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"bot_token": "xoxb-1", "signing_secret": "s", "team_id": "not-a-team"}, "team_id must be Slack's id"),
        ({"bot_token": "xoxb-1", "signing_secret": "s", "app_id": 42}, "app_id must be Slack's id"),
        ({"bot_token": "xoxb-1"}, "lacks a non-empty signing_secret"),
    ],
)
def test_the_slack_secret_names_a_bad_pin_and_never_a_value(value: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        SlackSecrets.from_value(value, "arn:secret")
    assert "xoxb-1" not in str(caught.value)


def test_the_slack_secret_reads_its_optional_pins() -> None:
    secrets = SlackSecrets.from_value(
        {"bot_token": "xoxb-1", "signing_secret": "s", "team_id": "T0OURS", "app_id": "A0OURS"}, "arn:secret"
    )
    assert (secrets.team_id, secrets.app_id) == ("T0OURS", "A0OURS")
    assert "xoxb-1" not in repr(secrets) and "'s'" not in repr(secrets)


# ---------------------------------------------------------------------------------------------- delivery
def throttled(times: int) -> list[Exception]:
    return [TransientError("SendTaskSuccess: ThrottlingException (will retry)") for _ in range(times)]


def test_a_throttled_send_is_retried_within_the_click() -> None:
    gate = gate_with()
    record = waiting(gate)
    gate.tasks.fail_next = throttled(2)
    assert click(gate, record, APPROVER_1) == "approved"
    assert [token for token, _ in gate.tasks.succeeded] == ["the-token"]
    assert gate.slept == [0.2, 0.4]
    assert gate.store.get(record.approval_id).task_completed_at  # type: ignore[union-attr]


def test_an_approved_record_whose_token_was_never_completed_is_sent_again_on_a_reclick() -> None:
    gate = gate_with()
    record = waiting(gate)
    gate.tasks.fail_next = throttled(3)  # every attempt of the click fails: the record says APPROVED regardless
    assert click(gate, record, APPROVER_1) == "approved:undelivered"
    stored = gate.store.get(record.approval_id)
    assert stored is not None and stored.status == "APPROVED" and stored.task_completed_at is None
    assert gate.tasks.succeeded == []
    assert "click either button again" in gate.slack.ephemeral()[-1].lower()
    assert gate.slack.responses[-2][1]["blocks"][-1]["type"] == "actions"  # the buttons stay for the resend

    assert click(gate, record, STRANGER) == "refused:not_allowed"  # a resend is still an approver's click
    assert click(gate, record, APPROVER_2) == "resent"
    [(token, output)] = gate.tasks.succeeded
    assert token == "the-token"
    assert output == {
        "approved_by": [APPROVER_1],
        "decisions": [{"user": APPROVER_1, "at": "2030-01-01T12:00:00+00:00"}],
    }
    assert gate.store.get(record.approval_id).task_completed_at  # type: ignore[union-attr]
    assert click(gate, record, APPROVER_2) == "refused:decided"
    assert len(gate.tasks.succeeded) == 1


def test_an_undelivered_rejection_is_sent_again_as_a_rejection_whatever_the_button() -> None:
    gate = gate_with()
    record = waiting(gate)
    gate.tasks.fail_next = throttled(3)
    assert click(gate, record, APPROVER_1, "slipway_reject") == "rejected:undelivered"
    assert click(gate, record, APPROVER_2) == "resent"
    [(token, error, cause)] = gate.tasks.failed
    assert (token, error) == ("the-token", "Rejected") and f"<@{APPROVER_1}>" in cause
    assert gate.tasks.succeeded == []


def test_a_resent_decision_the_release_no_longer_waits_for_says_so() -> None:
    gate = gate_with()
    record = waiting(gate)
    gate.tasks.fail_next = throttled(3)
    click(gate, record, APPROVER_1)
    gate.tasks.gone.add("the-token")  # the approval timed out meanwhile
    assert click(gate, record, APPROVER_1) == "refused:token_gone"
    assert "no longer waits" in gate.slack.ephemeral()[-1]


def test_a_void_that_could_not_fail_the_task_fails_it_when_voided_again() -> None:
    gate = gate_with()
    record = waiting(gate)
    gate.tasks.fail_next = [TransientError("SendTaskFailure: ThrottlingException")] * 3
    with pytest.raises(TransientError):
        void_approvals(gate, str(record.release_id), "web-app-newer")  # the caller (PrepareEnvironment) is retried
    assert gate.store.get(record.approval_id).status == "SUPERSEDED"  # type: ignore[union-attr]
    assert gate.tasks.failed == []
    assert void_approvals(gate, str(record.release_id), "web-app-newer") == 0  # nothing left to void...
    assert [error for _, error, _ in gate.tasks.failed] == ["Superseded"]  # ...but the failure is delivered


def test_a_decision_a_crashed_callback_left_undelivered_is_sent_again_once_nobody_can_still_be_sending_it() -> None:
    gate = gate_with()
    record = waiting(gate)
    # The callback stopped between its conditional write and SendTaskSuccess (a timeout, a crash).
    stored = gate.store.records[record.approval_id]
    stored.status, stored.approved_by, stored.updated_at = "APPROVED", [APPROVER_1], T0.isoformat()
    stored.decisions = [Decision(APPROVER_1, T0.isoformat(), "approve")]
    assert click(gate, record, APPROVER_2) == "refused:decided"  # it may still be on its way: never sent twice
    assert gate.tasks.succeeded == []
    gate.clock.advance(16)
    assert click(gate, record, APPROVER_2) == "resent"
    assert [token for token, _ in gate.tasks.succeeded] == ["the-token"]


# ---------------------------------------------------------------------------------------------- Slack's errors
@pytest.mark.parametrize(
    ("raised", "kind"),
    [
        ("service_unavailable", "SlackUnavailable"),
        ("ratelimited", "SlackUnavailable"),
        ("fatal_error", "SlackUnavailable"),
        ("channel_not_found", "SlackError"),
        ("not_in_channel", "SlackError"),
        ("invalid_auth", "SlackError"),
    ],
)
def test_slack_errors_worth_waiting_for_are_told_apart_from_those_that_need_a_person(raised: str, kind: str) -> None:
    from slack_sdk.errors import SlackApiError

    from slipway.adapters.slack import SlackClient, SlackError

    class Refusing:
        def api_call(self, method: str, **kwargs: Any) -> Any:
            raise SlackApiError("refused", {"ok": False, "error": raised})

    client = SlackClient("xoxb-1", "https://slack.example/api/", web_client=Refusing())  # type: ignore[arg-type]
    with pytest.raises(SlackError) as caught:
        client.post_message_in("#deploys", "text")
    assert type(caught.value).__name__ == kind
    assert raised in str(caught.value)


def test_a_decision_the_audit_trail_refused_is_neither_delivered_nor_lost() -> None:
    gate = gate_with()
    record = waiting(gate)
    original = gate.audit.event
    refusals = iter([TransientError("PutItem: ThrottlingException (will retry)")])

    def throttled_once(*args: Any, **kwargs: Any) -> None:
        refusal = next(refusals, None)
        if refusal is not None:
            raise refusal
        original(*args, **kwargs)

    gate.audit.event = throttled_once  # type: ignore[method-assign]
    with pytest.raises(TransientError):  # the callback answers 500: the person clicks again
        click(gate, record, APPROVER_1)
    assert gate.tasks.succeeded == []
    stored = gate.store.get(record.approval_id)
    assert stored is not None and stored.status == "APPROVED" and str(stored.delivery_problem).startswith("audit: ")
    assert click(gate, record, APPROVER_1) == "resent"  # the row first, then the decision
    [decision] = [e for e in gate.audit.log if e.kind.value == "approval_decision"]
    assert (decision.data["user"], decision.data["decision"]) == (APPROVER_1, "approve")
    assert [token for token, _ in gate.tasks.succeeded] == ["the-token"]
