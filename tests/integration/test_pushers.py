"""The pusher rule on moto: the ECR push function records CloudTrail's PutImage principal in DynamoDB, and the
approval requested for that image refuses the person config/people.yaml maps it to, or, for a principal nobody is
mapped to, needs one more approver."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support.approvals import APPROVER_1, APPROVER_2, PUSHER, GateWorld, ephemeral_texts
from tests.support.handlers import LambdaContext, load_handler
from tests.support.paths import load_event
from tests.support.world import STATE_TABLE

from slipway.adapters.pushers import PusherStore
from slipway.domain.approval.request import request_approval
from slipway.models.payloads import RequestApprovalInput

pytestmark = pytest.mark.integration

handler = load_handler("ecr_push").lambda_handler
ALICE = "arn:aws:iam::123456789012:user/alice"  # config/people.yaml: U0PUSHER


def put_image(digest: str, principal: str) -> dict[str, Any]:
    event = load_event("cloudtrail-ecr-putimage.json")
    event["detail"]["userIdentity"]["arn"] = principal
    event["detail"]["responseElements"]["image"]["imageId"]["imageDigest"] = digest
    result: dict[str, Any] = handler(event, LambdaContext())
    return result


def request(world: GateWorld) -> tuple[str, str]:
    """A release without ``pushed_by`` (as every intake starts one) waiting for its production approval."""
    release, plan = world.make_release(pushed_by=None)
    world.write_plan(release.release_id, "production", plan.plan_hash)
    token = "token-" + release.release_id
    result = request_approval(
        world.gate, RequestApprovalInput(task_token=token, release=release, environment="production", plan=plan)
    )
    return release.digest, str(result["approval_id"])


@pytest.fixture
def world(world_factory: Any) -> GateWorld:
    made: GateWorld = world_factory(approvers={"users": [APPROVER_1, APPROVER_2, PUSHER]})
    # The ECR push function's settings name the release state machine (its intake needs one).
    made.world.settings = made.world.settings.model_copy(update={"state_machine_arn": made.state_machine_arn})
    made.wiring = made.world.install()
    return made


def test_the_handler_records_every_principal_that_put_the_image(world: GateWorld) -> None:
    digest = "sha256:" + "7" * 64
    assert put_image(digest, ALICE)["pusher"]["principal"] == ALICE
    put_image(digest, ALICE)  # a redelivery
    put_image(digest, "arn:aws:iam::123456789012:user/bob")  # a retag by someone else
    store = PusherStore(world.dynamodb, STATE_TABLE)
    assert store.principals("app-images", digest) == [ALICE, "arn:aws:iam::123456789012:user/bob"]
    item = world.dynamodb.get_item(
        TableName=STATE_TABLE, Key={"pk": {"S": f"PUSHER#app-images@{digest}"}, "sk": {"S": "PUSHER"}}
    )
    assert int(item["Item"]["expires_at"]["N"]) > 0  # kept by TTL, not forever


def test_the_person_people_yaml_maps_the_pusher_to_may_not_approve(world: GateWorld) -> None:
    release, plan = world.make_release(pushed_by=None)
    put_image(release.digest, ALICE)
    world.write_plan(release.release_id, "production", plan.plan_hash)
    execution = world.sfn.start_execution(stateMachineArn=world.state_machine_arn, name=release.release_id, input="{}")
    token = world.wait_for_token(execution["executionArn"])
    approval_id = request_approval(
        world.gate, RequestApprovalInput(task_token=token, release=release, environment="production", plan=plan)
    )["approval_id"]
    assert world.record(approval_id).pushers == [PUSHER]
    refused = world.click(approval_id, PUSHER)
    assert any("you pushed this image" in t for t in ephemeral_texts(refused["replies"]))
    world.click(approval_id, APPROVER_1)
    assert world.execution(execution["executionArn"])["status"] == "SUCCEEDED"


def test_an_image_nobody_is_known_to_have_pushed_needs_one_more_approver(world: GateWorld) -> None:
    _, approval_id = request(world)
    record = world.record(approval_id)
    assert (record.required, record.pushers) == (2, [])
    [post] = [p for p in world.fake.posts() if approval_id in json.dumps(p["blocks"])]
    assert "Pusher unknown (no CloudTrail PutImage record of this image reached slipway)" in json.dumps(post["blocks"])
