"""The Slack approval gate end to end: moto (DynamoDB, Step Functions, Secrets Manager) + FakeSlack over HTTP.

Every click goes through ``handle_interaction`` as an API Gateway v2 event signed like Slack signs it.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from tests.support.approvals import (
    APPROVER_1,
    APPROVER_2,
    BOT_TOKEN,
    GROUP_MEMBER,
    PUSHER,
    SIGNING_SECRET,
    STRANGER,
    GateWorld,
    ephemeral_texts,
    replaced_texts,
)
from tests.support.handlers import LambdaContext, load_handler
from tests.support.paths import ROOT

from slipway.domain.approval.close import expire_approvals, void_approvals
from slipway.domain.approval.decide import APPROVAL_ID_PATTERN, Click, decide, handle_interaction
from slipway.domain.approval.request import request_approval
from slipway.models.payloads import RequestApprovalInput
from slipway_dev.iam.recorder import acting_as
from slipway_dev.local.faults import FailFirst

pytestmark = pytest.mark.integration


@pytest.fixture
def world(world_factory: Any) -> GateWorld:
    made: GateWorld = world_factory()
    return made


# ---------------------------------------------------------------------- the request
def test_request_posts_a_block_kit_message_whose_buttons_carry_only_the_approval_id(world: GateWorld) -> None:
    release, plan = world.make_release()
    world.audit.environment_finished(release, "staging", "SUCCEEDED", deployment_id="d-STAGING01")
    world.write_plan(release.release_id, "production", plan.plan_hash)
    execution = world.sfn.start_execution(stateMachineArn=world.state_machine_arn, name=release.release_id)
    token = world.wait_for_token(execution["executionArn"])
    result = request_approval(
        world.gate, RequestApprovalInput(task_token=token, release=release, environment="production", plan=plan)
    )

    [post] = world.fake.posts()
    assert post["channel_name"] == "#deploys-production"
    text = json.dumps(post["blocks"])
    for expected in (
        "web-app",
        "production",
        release.digest,
        "latest",
        release.commit,
        plan.diff[1],
        "HIGH 2",
        "SUCCEEDED",
        "d-STAGING01",
        f"<@{PUSHER}>",
        "2030-01-01 13:00 UTC",
    ):
        assert expected in text, expected
    assert token not in json.dumps(post)
    buttons = [e for b in post["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert {b["action_id"] for b in buttons} == {"slipway_approve", "slipway_reject"}
    assert {b["value"] for b in buttons} == {result["approval_id"]}
    assert APPROVAL_ID_PATTERN.fullmatch(result["approval_id"])
    for block in post["blocks"]:  # Slack's own Block Kit models accept every block
        Block.parse(block).validate_json()

    record = world.record(result["approval_id"])
    assert record.status == "PENDING"
    assert record.task_token == token
    assert record.plan_hash == plan.plan_hash
    assert record.channel_id == post["channel"] and record.message_ts == post["ts"]
    kinds = [e.kind for e in world.audit.events(release.release_id)]
    assert "approval_requested" in kinds


def test_a_retried_request_replaces_the_earlier_message_which_says_so(world: GateWorld) -> None:
    """RequestApproval retried (the first try posted, then failed): one pending approval, the first one void."""
    started = world.start()
    task = RequestApprovalInput(
        task_token=started.task_token, release=started.release, environment="production", plan=started.plan
    )
    with acting_as("RequestApprovalFunction"):
        again = request_approval(world.gate, task)
    assert again["approval_id"] != started.approval_id
    assert world.record(started.approval_id).status == "VOID"
    assert world.record(again["approval_id"]).status == "PENDING"
    assert "Replaced by a newer approval request" in json.dumps(world.fake.updates()[-1]["blocks"])


# ---------------------------------------------------------------------- decisions
def test_approve_completes_the_task_with_approvers_and_times(world: GateWorld) -> None:
    started = world.start()
    answer = world.click(started.approval_id, APPROVER_1)

    assert answer["status"] == 200
    done = world.execution(started.execution_arn)
    assert done["status"] == "SUCCEEDED"
    output = json.loads(done["output"])
    assert output["approved_by"] == [APPROVER_1]
    assert output["decisions"] == [{"user": APPROVER_1, "at": world.clock().isoformat(timespec="seconds")}]
    assert any(f"Approved by <@{APPROVER_1}> at" in t for t in replaced_texts(answer["replies"]))
    assert world.record(started.approval_id).status == "APPROVED"
    events = world.audit.events(started.release.release_id)
    assert any(e.kind == "approval_decision" and e.data["user"] == APPROVER_1 for e in events)


def test_reject_fails_the_task_with_the_named_error(world: GateWorld) -> None:
    started = world.start()
    answer = world.click(started.approval_id, APPROVER_2, "slipway_reject")

    assert world.execution(started.execution_arn)["status"] == "FAILED"
    failure = world.failure(started.execution_arn)
    assert failure["error"] == "Rejected"
    [sent] = world.sent_failures()
    assert sent["error"] == "Rejected"
    assert sent["cause"] == f"Rejected by <@{APPROVER_2}> at {world.clock().isoformat(timespec='seconds')}"
    assert sent["taskToken"] == started.task_token
    assert any(f"Rejected by <@{APPROVER_2}>" in t for t in replaced_texts(answer["replies"]))
    assert world.record(started.approval_id).status == "REJECTED"


def test_n_of_m_needs_distinct_approvers_and_group_members_count(world_factory: Any) -> None:
    world: GateWorld = world_factory(min_approvals=2)
    started = world.start()

    first = world.click(started.approval_id, APPROVER_1)
    assert world.execution(started.execution_arn, settle=0.5)["status"] == "RUNNING"
    assert any("1 of 2" in t for t in replaced_texts(first["replies"]))
    again = world.click(started.approval_id, APPROVER_1)
    assert any("already approved" in t for t in ephemeral_texts(again["replies"]))
    assert world.record(started.approval_id).approved_by == [APPROVER_1]

    second = world.click(started.approval_id, GROUP_MEMBER)  # allowed through the user group S0DEPLOYERS
    done = world.execution(started.execution_arn)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"])["approved_by"] == [APPROVER_1, GROUP_MEMBER]
    assert any(f"Approved by <@{APPROVER_1}>, <@{GROUP_MEMBER}>" in t for t in replaced_texts(second["replies"]))


def test_a_throttled_send_task_success_is_sent_again_by_the_next_click(world: GateWorld) -> None:
    started = world.start()
    # Step Functions throttles every attempt of the first click (the SDK's retries spent, then the gate's own three).
    FailFirst(["stepfunctions.SendTaskSuccess"], times=3).install_on_session(world.world.session)
    first = world.click(started.approval_id, APPROVER_1)
    assert first["status"] == 200
    assert world.record(started.approval_id).status == "APPROVED"
    assert world.record(started.approval_id).task_completed_at is None
    assert world.execution(started.execution_arn, settle=0.5)["status"] == "RUNNING"  # nothing reached the task
    assert "click either button again" in ephemeral_texts(first["replies"])[-1].lower()

    second = world.click(started.approval_id, APPROVER_2)
    assert world.execution(started.execution_arn)["status"] == "SUCCEEDED"
    assert world.record(started.approval_id).task_completed_at is not None
    assert "the release goes on" in ephemeral_texts(second["replies"])[-1]
    third = world.click(started.approval_id, APPROVER_2)
    assert "Nothing to do" in ephemeral_texts(third["replies"])[-1]


def test_a_stranger_is_refused(world: GateWorld) -> None:
    started = world.start()
    answer = world.click(started.approval_id, STRANGER)

    assert answer["status"] == 200
    assert any("not an approver" in t for t in ephemeral_texts(answer["replies"]))
    assert not replaced_texts(answer["replies"])
    assert world.record(started.approval_id).status == "PENDING"
    assert world.execution(started.execution_arn, settle=0.3)["status"] == "RUNNING"


def test_a_stranger_cannot_reject_either(world: GateWorld) -> None:
    started = world.start()
    answer = world.click(started.approval_id, STRANGER, "slipway_reject")
    assert any("not an approver" in t for t in ephemeral_texts(answer["replies"]))
    assert world.record(started.approval_id).status == "PENDING"


def test_the_pusher_may_not_approve_their_own_image(world: GateWorld) -> None:
    started = world.start(pushed_by=APPROVER_1)
    answer = world.click(started.approval_id, APPROVER_1)
    assert any("you pushed this image" in t for t in ephemeral_texts(answer["replies"]))
    assert world.record(started.approval_id).status == "PENDING"
    world.click(started.approval_id, APPROVER_2)
    assert world.execution(started.execution_arn)["status"] == "SUCCEEDED"


def test_the_pusher_may_approve_when_the_config_allows_it(world_factory: Any) -> None:
    world: GateWorld = world_factory(allow_pusher=True)
    started = world.start(pushed_by=APPROVER_1)
    world.click(started.approval_id, APPROVER_1)
    assert world.execution(started.execution_arn)["status"] == "SUCCEEDED"


def test_a_double_click_counts_once(world: GateWorld) -> None:
    started = world.start()
    world.click(started.approval_id, APPROVER_1)
    second = world.click(started.approval_id, APPROVER_1)
    assert any("already approved" in t for t in ephemeral_texts(second["replies"]))
    assert world.record(started.approval_id).approved_by == [APPROVER_1]
    assert world.execution(started.execution_arn)["status"] == "SUCCEEDED"


def test_simultaneous_clicks_complete_the_task_exactly_once(world: GateWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    # DynamoDB applies each conditional write atomically; moto does not lock, so serialise its writes the way
    # DynamoDB does (one request at a time per item) and let the gate's own conditions decide who wins.
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()  # transact_write_items calls update_item inside
    for name in ("update_item", "transact_write_items", "put_item"):
        original_write = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, _write: Any = original_write, **kwargs: Any) -> Any:
            with lock:
                return _write(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, atomic)
    started = world.start()
    sent: list[str] = []
    original = world.gate.tasks.succeed

    def counting(token: str, output: dict[str, Any]) -> None:
        sent.append(token)
        original(token, output)

    world.gate.tasks.succeed = counting  # type: ignore[method-assign]
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def click(user: str) -> None:
        barrier.wait()
        outcomes.append(
            decide(world.gate, Click(started.approval_id, "slipway_approve", user, world.fake.response_url(user)))
        )

    threads = [threading.Thread(target=click, args=(u,)) for u in (APPROVER_1, APPROVER_2, GROUP_MEMBER, APPROVER_1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("approved") == 1, outcomes
    assert len(sent) == 1
    assert len(world.record(started.approval_id).approved_by) == 1


def test_a_click_after_expiry_is_refused_and_the_message_says_expired(world: GateWorld) -> None:
    started = world.start()
    world.clock.advance(3601)
    answer = world.click(started.approval_id, APPROVER_1)

    assert any("expired" in t for t in ephemeral_texts(answer["replies"]))
    assert any("Expired" in t for t in replaced_texts(answer["replies"]))
    assert world.record(started.approval_id).status == "EXPIRED"
    assert world.execution(started.execution_arn, settle=0.3)["status"] == "RUNNING"  # the task timeout ends it


def test_expire_approvals_marks_the_record_and_message(world: GateWorld) -> None:
    started = world.start()
    with acting_as("FinalizeReleaseFunction"):  # the approval task timed out: FinalizeRelease expires it
        assert expire_approvals(world.gate, started.release.release_id) == 1
    assert world.record(started.approval_id).status == "EXPIRED"
    assert "Expired" in json.dumps(world.fake.updates()[-1]["blocks"])


def test_a_click_after_supersede_is_refused(world: GateWorld) -> None:
    started = world.start()
    with acting_as("PrepareEnvironmentFunction"):  # a newer release's PrepareEnvironment supersedes this one
        voided = void_approvals(world.gate, started.release.release_id, "release web-app-new")
    assert voided == 1
    assert world.execution(started.execution_arn)["status"] == "FAILED"
    assert world.failure(started.execution_arn)["error"] == "Superseded"
    [update] = world.fake.updates()
    assert "Superseded by release web-app-new" in json.dumps(update["blocks"])
    assert not [b for b in update["blocks"] if b["type"] == "actions"]  # the buttons are gone

    answer = world.click(started.approval_id, APPROVER_1)
    assert any("already" in t and "superseded" in t for t in ephemeral_texts(answer["replies"]))
    assert void_approvals(world.gate, started.release.release_id, "again") == 0


def test_a_stale_plan_hash_voids_the_approval(world: GateWorld) -> None:
    started = world.start()
    world.write_plan(started.release.release_id, "production", "f" * 64)
    answer = world.click(started.approval_id, APPROVER_1)

    assert any("plan changed" in t for t in ephemeral_texts(answer["replies"]))
    assert world.record(started.approval_id).status == "VOID"
    assert world.execution(started.execution_arn)["status"] == "FAILED"
    assert world.failure(started.execution_arn)["error"] == "Superseded"


# ---------------------------------------------------------------------- authentication
def _nothing_happened(world: GateWorld, approval_id: str, before: int) -> None:
    assert len(world.fake.responses()) == before
    assert world.record(approval_id).status == "PENDING"
    assert world.record(approval_id).approved_by == []


def test_a_replay_older_than_five_minutes_is_refused(world: GateWorld) -> None:
    started = world.start()
    before = len(world.fake.responses())
    old = int(world.clock().timestamp()) - 301
    answer = handle_interaction(world.gate, world.click_event(started.approval_id, APPROVER_1, timestamp=old))
    assert answer == {"statusCode": 401, "headers": answer["headers"], "body": ""}
    _nothing_happened(world, started.approval_id, before)
    fresh = int(world.clock().timestamp()) - 299
    assert (
        handle_interaction(world.gate, world.click_event(started.approval_id, APPROVER_1, timestamp=fresh))[
            "statusCode"
        ]
        == 200
    )


def test_a_tampered_body_is_refused(world: GateWorld) -> None:
    started = world.start()
    before = len(world.fake.responses())
    event = world.click_event(started.approval_id, STRANGER)
    event["body"] = event["body"].replace(STRANGER, APPROVER_1)
    assert handle_interaction(world.gate, event)["statusCode"] == 401
    _nothing_happened(world, started.approval_id, before)


def test_a_request_signed_with_another_secret_is_refused(world: GateWorld) -> None:
    started = world.start()
    event = world.click_event(started.approval_id, APPROVER_1, secret="not-the-signing-secret")
    assert handle_interaction(world.gate, event)["statusCode"] == 401
    assert world.record(started.approval_id).status == "PENDING"


@pytest.mark.parametrize(
    "missing",
    [("x-slack-signature",), ("x-slack-request-timestamp",), ("x-slack-signature", "x-slack-request-timestamp")],
)
def test_missing_headers_are_refused(world: GateWorld, missing: tuple[str, ...]) -> None:
    started = world.start()
    before = len(world.fake.responses())
    event = world.click_event(started.approval_id, APPROVER_1)
    for header in missing:
        del event["headers"][header]
    answer = handle_interaction(world.gate, event)
    assert answer["statusCode"] == 401 and answer["body"] == ""
    _nothing_happened(world, started.approval_id, before)


def test_no_body_or_no_headers_is_refused(world: GateWorld) -> None:
    assert handle_interaction(world.gate, {"headers": {}})["statusCode"] == 401
    assert handle_interaction(world.gate, {"body": "payload=%7B%7D"})["statusCode"] == 401
    assert handle_interaction(world.gate, "not an event")["statusCode"] == 401


def test_a_base64_body_is_verified_over_the_decoded_bytes(world: GateWorld) -> None:
    started = world.start()
    answer = world.click(started.approval_id, APPROVER_1, base64_body=True)
    assert answer["status"] == 200
    assert world.execution(started.execution_arn)["status"] == "SUCCEEDED"

    event = world.click_event(started.approval_id, APPROVER_1, base64_body=True)
    event["body"] = event["body"][:-4] + "!!!!"  # not base64 at all
    assert handle_interaction(world.gate, event)["statusCode"] == 401


def test_a_signed_body_that_is_not_an_interaction_gets_400(world: GateWorld) -> None:
    from slipway.domain.approval.signature import slack_signature

    stamp = str(int(world.clock().timestamp()))
    body = "payload=not-json"
    event = {
        "headers": {
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": slack_signature(SIGNING_SECRET, stamp, body.encode()),
        },
        "body": body,
        "isBase64Encoded": False,
    }
    assert handle_interaction(world.gate, event) == {"statusCode": 400, "headers": event_headers(), "body": ""}


def test_a_click_from_another_workspace_is_refused_once_the_secret_pins_team_and_app(world: GateWorld) -> None:
    started = world.start()
    secrets = world.world.client("secretsmanager")
    arn = world.world.settings.slack_secret_arn
    # events/slack-block-actions.json, which click_event signs, comes from team T0TEAM and app A0SLIPWAY.
    for team, app, status in (("T0OTHER", "A0SLIPWAY", 403), ("T0TEAM", "A0OTHER", 403), ("T0TEAM", "A0SLIPWAY", 200)):
        value = {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET, "team_id": team, "app_id": app}
        secrets.put_secret_value(SecretId=arn, SecretString=json.dumps(value))
        world.wiring.secrets_provider.clear_cache()  # as if the cache's 5 minutes had passed
        answer = handle_interaction(world.gate, world.click_event(started.approval_id, APPROVER_1))
        assert answer["statusCode"] == status
        if status == 403:
            assert world.record(started.approval_id).status == "PENDING"
    assert world.record(started.approval_id).status == "APPROVED"
    assert world.execution(started.execution_arn)["status"] == "SUCCEEDED"


def event_headers() -> dict[str, str]:
    return {"Content-Type": "text/plain; charset=utf-8"}


# ---------------------------------------------------------------------- the deployed handler and the secrets
def test_the_lambda_handler_reads_the_signing_secret_from_secrets_manager(world: GateWorld) -> None:
    started = world.start()
    handler = load_handler("slack_interactions")
    world.clock.now = __import__("datetime").datetime.now(__import__("datetime").UTC)  # the handler's real clock
    answer = handler.lambda_handler(world.click_event(started.approval_id, APPROVER_1), LambdaContext())
    assert answer["statusCode"] == 200
    assert world.execution(started.execution_arn)["status"] == "SUCCEEDED"
    forged = world.click_event(started.approval_id, APPROVER_1, secret="guess")
    assert handler.lambda_handler(forged, LambdaContext())["statusCode"] == 401


def test_logs_never_contain_the_bot_token_or_signing_secret(
    world: GateWorld, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    from slipway.observability import logger

    caplog.set_level(logging.DEBUG)  # everything, botocore and slack_sdk included
    old_level = logger.log_level
    logger.setLevel("DEBUG")
    try:
        started = world.start()
        world.click(started.approval_id, STRANGER)
        world.click(started.approval_id, APPROVER_1, secret="forged")
        world.click(started.approval_id, APPROVER_1)
        other = world.start()
        void_approvals(world.gate, other.release.release_id, "newer")
        handler = load_handler("slack_interactions")
        handler.lambda_handler(world.click_event(other.approval_id, APPROVER_1), LambdaContext())
    finally:
        logger.setLevel(old_level)
    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err
    assert caplog.records, "nothing was logged: the test would prove nothing"
    for secret in (BOT_TOKEN, SIGNING_SECRET):
        assert secret not in everything
    assert "SecretString" not in everything
    assert repr(world.gate).count(BOT_TOKEN) == 0


def test_the_slack_manifest_asks_for_what_the_gate_and_preflight_use() -> None:
    import yaml

    from slipway_dev.template import load_template

    manifest = yaml.safe_load((ROOT / "slack" / "manifest.yaml").read_text())
    gate, preflight = {"chat:write", "usergroups:read"}, {"channels:read", "groups:read", "users:read"}
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == gate | preflight
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert "SlackInteractivityUrl" in manifest["settings"]["interactivity"]["request_url"]
    output = load_template()["Outputs"]["SlackInteractivityUrl"]["Value"]
    assert "/slack/interactions" in str(output)
