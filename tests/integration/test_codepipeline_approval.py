"""CodePipeline Manual approval via Slack: SNS notification -> Slack message -> click -> PutApprovalResult.

moto does not implement PutApprovalResult: a botocore Stubber on the injected client checks every request
against the real API model and plays CodePipeline's answers, including its two "too late" errors.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from tests.support.approvals import (
    APPROVER_1,
    REGION,
    STRANGER,
    GateWorld,
    ephemeral_texts,
    replaced_texts,
)
from tests.support.handlers import invoke
from tests.support.paths import load_event

from slipway.domain.approval.codepipeline import (
    codepipeline_approval_id,
    codepipeline_target,
    request_codepipeline_approval,
)
from slipway.domain.approval.decide import APPROVAL_ID_PATTERN
from slipway.errors import ConfigError, MalformedEvent
from slipway.models.events import CodePipelineApprovalNotification
from slipway.models.parsing import parse_sns_messages
from slipway_dev.iam.recorder import acting_as

pytestmark = pytest.mark.integration

EVENT = "sns-codepipeline-approval.json"


def sns_message() -> dict[str, Any]:
    message: dict[str, Any] = json.loads(load_event(EVENT)["Records"][0]["Sns"]["Message"])
    return message


def notification(message: dict[str, Any] | str) -> CodePipelineApprovalNotification:
    """The message as the handler reads it: the SNS event of events/ carrying ``message``."""
    event = load_event(EVENT)
    event["Records"][0]["Sns"]["Message"] = message if isinstance(message, str) else json.dumps(message)
    [parsed] = parse_sns_messages(CodePipelineApprovalNotification, event, "CodePipeline approval notification")
    return parsed


@pytest.fixture
def stubbed(world_factory: Any) -> tuple[GateWorld, Stubber]:
    world: GateWorld = world_factory()
    client = boto3.client("codepipeline", region_name=REGION)
    stubber = Stubber(client)
    stubber.activate()
    world.replace_clients(codepipeline=client)
    return world, stubber


class Summary:
    """Matches any summary naming the given approver (Stubber compares with ==)."""

    def __init__(self, *needles: str) -> None:
        self.needles = needles

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and all(n in other for n in self.needles)

    def __hash__(self) -> int:
        return 0


def params(status: str, *needles: str) -> dict[str, Any]:
    approval = sns_message()["approval"]
    return {
        "pipelineName": approval["pipelineName"],
        "stageName": approval["stageName"],
        "actionName": approval["actionName"],
        "token": approval["token"],
        "result": {"summary": Summary(*needles), "status": status},
    }


def post(world: GateWorld) -> str:
    world.clock.now = world.clock.now.replace(year=2030, month=7, day=1)
    with acting_as("CodePipelineApprovalFunction"):
        result = request_codepipeline_approval(world.gate, notification(sns_message()))
    return str(result["approval_id"])


def test_the_sns_notification_posts_the_approval_message(stubbed: tuple[GateWorld, Stubber]) -> None:
    world, _ = stubbed
    approval_id = post(world)
    [message] = world.fake.posts()
    text = json.dumps(message["blocks"])
    for expected in ("codepipeline-pipeline", "Approve_Deployment_to_Production", "Review in the CodePipeline console"):
        assert expected in text
    # The token appears only inside AWS's own console link (which needs an IAM login), never in a button.
    token = sns_message()["approval"]["token"]
    assert text.replace(sns_message()["approval"]["approvalReviewLink"], "").count(token) == 0
    values = {e["value"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert values == {approval_id}
    assert message["channel_name"] == "#deploys-production"


def test_approve_answers_put_approval_result_naming_the_approver(stubbed: tuple[GateWorld, Stubber]) -> None:
    world, stubber = stubbed
    approval_id = post(world)
    stubber.add_response("put_approval_result", {"approvedAt": world.clock()}, params("Approved", APPROVER_1))
    answer = world.click(approval_id, APPROVER_1)
    stubber.assert_no_pending_responses()
    assert any(f"Approved by <@{APPROVER_1}>" in t for t in replaced_texts(answer["replies"]))
    assert world.record(approval_id).status == "APPROVED"


def test_reject_answers_rejected(stubbed: tuple[GateWorld, Stubber]) -> None:
    world, stubber = stubbed
    approval_id = post(world)
    stubber.add_response("put_approval_result", {"approvedAt": world.clock()}, params("Rejected", APPROVER_1))
    answer = world.click(approval_id, APPROVER_1, "slipway_reject")
    stubber.assert_no_pending_responses()
    assert any(f"Rejected by <@{APPROVER_1}>" in t for t in replaced_texts(answer["replies"]))


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("InvalidApprovalTokenException", "no longer accepts this approval"),
        ("ApprovalAlreadyCompletedException", "already answered"),
    ],
)
def test_a_token_codepipeline_no_longer_accepts_gets_a_clear_slack_reply(
    stubbed: tuple[GateWorld, Stubber], code: str, says: str
) -> None:
    world, stubber = stubbed
    approval_id = post(world)
    stubber.add_client_error("put_approval_result", service_error_code=code, http_status_code=400)
    answer = world.click(approval_id, APPROVER_1)
    assert answer["status"] == 200
    assert any(says in t for t in ephemeral_texts(answer["replies"]))
    assert not any("Traceback" in json.dumps(r) for r in answer["replies"])


def test_a_stranger_cannot_answer_a_codepipeline_approval(stubbed: tuple[GateWorld, Stubber]) -> None:
    world, stubber = stubbed
    approval_id = post(world)
    answer = world.click(approval_id, STRANGER)
    assert any("not an approver" in t for t in ephemeral_texts(answer["replies"]))
    stubber.assert_no_pending_responses()  # nothing was sent to CodePipeline


def test_a_click_after_codepipelines_expiry_is_refused(stubbed: tuple[GateWorld, Stubber]) -> None:
    world, _ = stubbed
    approval_id = post(world)
    world.clock.now = notification(sns_message()).approval.expires + timedelta(seconds=1)
    answer = world.click(approval_id, APPROVER_1)
    assert any("expired" in t for t in ephemeral_texts(answer["replies"]))


def test_the_handler_reads_every_sns_record(stubbed: tuple[GateWorld, Stubber]) -> None:
    world, _ = stubbed
    result = invoke("codepipeline_approval", load_event(EVENT))
    assert len(result["approvals"]) == 1
    assert len(world.fake.posts()) == 1
    with pytest.raises(MalformedEvent, match="Records"):
        invoke("codepipeline_approval", {})


def test_the_target_comes_from_custom_data_or_names(stubbed: tuple[GateWorld, Stubber]) -> None:
    world, _ = stubbed
    config = world.gate.config()
    approval = notification(sns_message())
    pipeline, environment = codepipeline_target(config, approval)
    assert (pipeline.name, environment) == ("web-app", "production")

    by_name = sns_message()
    by_name["approval"]["pipelineName"] = "web-app"
    by_name["approval"]["customData"] = None
    pipeline, environment = codepipeline_target(config, notification(by_name))
    assert (pipeline.name, environment) == ("web-app", "production")

    unknown = sns_message()
    unknown["approval"]["customData"] = "please review"
    with pytest.raises(ConfigError, match="slipway: <pipeline>/<environment>"):
        codepipeline_target(config, notification(unknown))


@pytest.mark.parametrize("field", ["pipelineName", "stageName", "actionName", "token", "expires"])
def test_a_malformed_notification_names_the_missing_field(field: str) -> None:
    message = sns_message()
    del message["approval"][field]
    with pytest.raises(MalformedEvent, match=rf"missing field approval\.{field}"):
        notification(json.dumps(message))
    with pytest.raises(MalformedEvent, match="JSON"):
        notification("{")


# ---------------------------------------------------------------- SNS redelivery and late notifications
def _deliver(world: GateWorld, message: dict[str, Any] | None = None) -> dict[str, Any]:
    with acting_as("CodePipelineApprovalFunction"):
        return request_codepipeline_approval(
            world.gate, notification(message if message is not None else sns_message())
        )


def test_a_redelivered_notification_posts_nothing_new_and_counts_a_duplicate(
    stubbed: tuple[GateWorld, Stubber],
) -> None:
    from tests.support.logs import pending_metric

    from slipway.observability import DUPLICATE_RELEASE_IGNORED, metrics

    world, _ = stubbed
    world.clock.now = world.clock.now.replace(year=2030, month=7, day=1)
    metrics.clear_metrics()
    first = _deliver(world)
    again = _deliver(world)
    assert len(world.fake.posts()) == 1
    assert again["approval_id"] == first["approval_id"]
    assert again["duplicate"] is True and (again["channel"], again["ts"]) == (first["channel"], first["ts"])
    assert pending_metric(DUPLICATE_RELEASE_IGNORED) == [1.0]
    metrics.clear_metrics()
    # A different token (the next run of the pipeline) is a different approval.
    other = sns_message()
    other["approval"]["token"] = "9f8e7d6c-0000-4ea7-a67e-6e4f5a6b7c8d"
    assert _deliver(world, other)["approval_id"] != first["approval_id"]
    assert len(world.fake.posts()) == 2


def test_the_approval_id_derives_from_pipeline_stage_action_and_token() -> None:
    base = notification(sns_message())
    assert codepipeline_approval_id(base) == codepipeline_approval_id(notification(sns_message()))
    assert APPROVAL_ID_PATTERN.fullmatch(codepipeline_approval_id(base))
    for field in ("pipelineName", "stageName", "actionName", "token"):
        changed = sns_message()
        changed["approval"][field] += "x"
        assert codepipeline_approval_id(notification(changed)) != codepipeline_approval_id(base)


def test_a_delivery_that_failed_before_posting_is_posted_by_a_later_redelivery(
    stubbed: tuple[GateWorld, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, _ = stubbed
    world.clock.now = world.clock.now.replace(year=2030, month=7, day=1)

    class Down:
        def post_message_in(self, *_: Any) -> tuple[str, str]:
            raise RuntimeError("Slack is down")

    with monkeypatch.context() as patched:
        patched.setattr(type(world.wiring), "slack", property(lambda _self: Down()))
        with pytest.raises(RuntimeError):
            _deliver(world)
    # An immediate redelivery may race the first attempt: it posts nothing.
    assert _deliver(world)["duplicate"] is True
    assert world.fake.posts() == []
    # SNS/Lambda retry a minute or more later: the message is posted, once.
    world.clock.advance(180)
    posted = _deliver(world)
    assert "duplicate" not in posted
    assert len(world.fake.posts()) == 1
    assert _deliver(world)["duplicate"] is True
    assert len(world.fake.posts()) == 1


def test_an_already_expired_notification_is_posted_as_expired_without_buttons(
    stubbed: tuple[GateWorld, Stubber],
) -> None:
    world, stubber = stubbed
    expires = notification(sns_message()).approval.expires
    world.clock.now = expires + timedelta(minutes=5)
    result = _deliver(world)
    [message] = world.fake.posts()
    assert not [b for b in message["blocks"] if b["type"] == "actions"]
    assert "Expired" in json.dumps(message["blocks"])
    record = world.record(result["approval_id"])
    assert record.status == "EXPIRED" and result["status"] == "EXPIRED"
    # A click on an old copy of the message changes nothing and tells the user so.
    answer = world.click(result["approval_id"], APPROVER_1)
    assert any("already expired" in t for t in ephemeral_texts(answer["replies"]))
    stubber.assert_no_pending_responses()
