"""The approval gate over the moto world: releases waiting on a tiny state machine's ``.waitForTaskToken``
task (it stands in for the release's RequestApproval state: SendTaskSuccess/Failure end it as they would end the
real wait), and Slack clicks signed as Slack signs them."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from slipway.adapters.approval_store import ApprovalStore
from slipway.adapters.audit import AuditLog
from slipway.domain.approval.decide import handle_interaction
from slipway.domain.approval.ports import ApprovalGate
from slipway.domain.approval.request import request_approval
from slipway.domain.approval.signature import slack_signature
from slipway.models.payloads import RequestApprovalInput
from slipway.models.records import ApprovalRecord
from slipway.models.release import Plan, Release, release_id_for
from slipway.wiring import Wiring
from slipway_dev.iam.recorder import acting_as
from slipway_dev.local.fake_slack import FakeSlack
from tests.support.clock import Clock
from tests.support.paths import load_event
from tests.support.world import (
    ACCOUNT,
    APPROVER_1,
    APPROVER_2,
    BOT_TOKEN,
    GROUP,
    GROUP_MEMBER,
    PUSHER,
    REGION,
    SIGNING_SECRET,
    STATE_TABLE,
    STRANGER,
    MotoWorld,
)

__all__ = ["APPROVER_1", "APPROVER_2", "BOT_TOKEN", "GROUP", "GROUP_MEMBER", "PUSHER", "SIGNING_SECRET", "STRANGER"]


@dataclass
class Started:
    release: Release
    plan: Plan
    execution_arn: str
    approval_id: str
    task_token: str


@dataclass
class GateWorld:
    world: MotoWorld
    wiring: Wiring
    state_machine_arn: str

    @property
    def gate(self) -> ApprovalGate:
        return self.wiring.approvals

    def replace_clients(self, **clients: Any) -> None:
        """Stubber-wrapped clients for some services (``codepipeline=...``), for the handlers too."""
        self.wiring = self.world.install(**clients)

    @property
    def fake(self) -> FakeSlack:
        return self.world.slack

    @property
    def clock(self) -> Clock:
        return self.world.clock

    @property
    def sfn(self) -> Any:
        return self.world.client("stepfunctions")

    @property
    def dynamodb(self) -> Any:
        return self.world.client("dynamodb")

    @property
    def store(self) -> ApprovalStore:
        return ApprovalStore(self.dynamodb, STATE_TABLE)

    @property
    def audit(self) -> AuditLog:
        return self.world.wiring().audit

    def sent_failures(self) -> list[dict[str, Any]]:
        """SendTaskFailure requests as the gate sent them (moto drops the cause from the execution history)."""
        return self.world.sent("SendTaskFailure")

    _n: int = 0

    # ------------------------------------------------------------------ releases waiting for approval
    def make_release(self, *, pushed_by: str | None = PUSHER) -> tuple[Release, Plan]:
        self._n += 1
        digest = "sha256:" + hashlib.sha256(f"image-{self._n}-{uuid.uuid4()}".encode()).hexdigest()
        release = Release(
            release_id=release_id_for("web-app", digest),
            pipeline="web-app",
            registry=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com",
            repository="app-images",
            digest=digest,
            tags=["0123456789abcdef0123456789abcdef01234567", "latest"],
            commit="0123456789abcdef0123456789abcdef01234567",
            pushed_by=pushed_by,
        )
        plan = Plan(
            release_id=release.release_id,
            pipeline="web-app",
            environment="production",
            digest=digest,
            plan_hash=hashlib.sha256(f"plan-{digest}".encode()).hexdigest(),
            task_definition_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/app:{self._n}",
            appspec_content="version: 0.0",
            appspec_sha256="0" * 64,
            diff=["web.image: app-images@sha256:old -> app-images@" + digest, "web.environment.FEATURE_X: added"],
            application="codedeploy-app",
            deployment_group="codedeploy-deployment-group-production",
            approval_required=True,
            approval_timeout_seconds=3600,
            deployment_wait_seconds=10800,
            scan_findings={"CRITICAL": 0, "HIGH": 2},
        )
        return release, plan

    def write_plan(self, release_id: str, environment: str, plan_hash: str) -> None:
        self.dynamodb.put_item(
            TableName=STATE_TABLE,
            Item={
                "pk": {"S": f"PLAN#{release_id}"},
                "sk": {"S": environment},
                "plan_hash": {"S": plan_hash},
                "at": {"S": self.clock().isoformat()},
            },
        )

    def start(self, *, pushed_by: str | None = PUSHER) -> Started:
        """An execution waits on RequestApproval; its Lambda (request_approval) stores the record and posts."""
        release, plan = self.make_release(pushed_by=pushed_by)
        self.write_plan(release.release_id, "production", plan.plan_hash)
        execution_arn = self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=release.release_id, input="{}"
        )["executionArn"]
        token = self.wait_for_token(execution_arn)
        task = RequestApprovalInput(task_token=token, release=release, environment="production", plan=plan)
        with acting_as("RequestApprovalFunction"):
            result = request_approval(self.gate, task)
        return Started(release, plan, execution_arn, result["approval_id"], token)

    def wait_for_token(self, execution_arn: str) -> str:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for event in self.sfn.get_execution_history(executionArn=execution_arn)["events"]:
                if event["type"] == "TaskScheduled":
                    params = json.loads(event["taskScheduledEventDetails"]["parameters"])
                    return str(params["Payload"]["task_token"])
            time.sleep(0.02)
        raise AssertionError("the waitForTaskToken task was never scheduled")

    def execution(self, execution_arn: str, *, settle: float = 10.0) -> dict[str, Any]:
        """The execution once it left RUNNING (or still RUNNING after ``settle`` seconds)."""
        deadline = time.monotonic() + settle
        while True:
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                return described
            time.sleep(0.02)

    def failure(self, execution_arn: str) -> dict[str, Any]:
        for event in self.sfn.get_execution_history(executionArn=execution_arn)["events"]:
            if event["type"] == "ExecutionFailed":
                return dict(event["executionFailedEventDetails"])
        raise AssertionError("the execution did not fail")

    # ------------------------------------------------------------------ Slack clicks
    def click_event(
        self,
        approval_id: str,
        user: str,
        action: str = "slipway_approve",
        *,
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
        base64_body: bool = False,
        response_id: str | None = None,
    ) -> dict[str, Any]:
        """The API Gateway v2 event Slack's click produces (events/slack-block-actions.json, re-signed)."""
        event = load_event("slack-block-actions.json")
        payload = json.loads(_form_payload(event["body"]))
        payload["user"]["id"] = user
        payload["actions"][0]["action_id"] = action
        payload["actions"][0]["value"] = approval_id
        payload["response_url"] = self.fake.response_url(response_id or uuid.uuid4().hex)
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))})
        stamp = str(int(self.clock().timestamp()) if timestamp is None else timestamp)
        event["headers"]["x-slack-request-timestamp"] = stamp
        event["headers"]["x-slack-signature"] = slack_signature(secret, stamp, body.encode())
        event["headers"]["content-length"] = str(len(body))
        if base64_body:
            event["body"] = base64.b64encode(body.encode()).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = body
        return event

    def click(self, approval_id: str, user: str, action: str = "slipway_approve", **kwargs: Any) -> dict[str, Any]:
        response_id = uuid.uuid4().hex
        event = self.click_event(approval_id, user, action, response_id=response_id, **kwargs)
        with acting_as("SlackInteractionsFunction"):
            answer = handle_interaction(self.gate, event)
        assert answer["body"] == ""
        return {"status": answer["statusCode"], "replies": self.replies(response_id)}

    def replies(self, response_id: str) -> list[dict[str, Any]]:
        return [r["payload"] for r in self.fake.responses() if r["response_id"] == response_id]

    def record(self, approval_id: str) -> ApprovalRecord:
        found = self.store.get(approval_id)
        assert found is not None
        return found


def _form_payload(body: str) -> str:
    from urllib.parse import parse_qs

    return parse_qs(body)["payload"][0]


def ephemeral_texts(replies: list[dict[str, Any]]) -> list[str]:
    return [str(r.get("text")) for r in replies if r.get("response_type") == "ephemeral"]


def replaced_texts(replies: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(r.get("blocks")) for r in replies if r.get("replace_original")]


GATE_ASL = {
    "StartAt": "RequestApproval",
    "States": {
        "RequestApproval": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {
                "FunctionName": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:request-approval",
                "Payload": {"task_token.$": "$$.Task.Token"},
            },
            "TimeoutSeconds": 3600,
            "End": True,
        }
    },
}


@pytest.fixture
def world_factory(moto_world_factory: Callable[..., MotoWorld]) -> Callable[..., GateWorld]:
    """``factory(min_approvals=..., allow_pusher=...)`` -> a GateWorld: production needs an approval of
    U0APPROVER1, U0APPROVER2 or the S0DEPLOYERS group; a tiny state machine waits on RequestApproval."""

    def make(**policy: Any) -> GateWorld:
        world = moto_world_factory(approval=policy)
        arn = world.client("stepfunctions").create_state_machine(
            name=f"gate-{uuid.uuid4().hex[:8]}",
            definition=json.dumps(GATE_ASL),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
        )["stateMachineArn"]
        return GateWorld(world, world.install(), arn)

    return make
