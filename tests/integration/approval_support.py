"""The approval gate under test: moto (DynamoDB, Step Functions, Secrets Manager) + FakeSlack over real HTTP.

A tiny state machine with one ``.waitForTaskToken`` task stands in for the release's RequestApproval state: the
token it hands out is what ``request_approval`` stores, and SendTaskSuccess/Failure end the execution as they
would end the real wait.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
import yaml
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from slipway.adapters.approvals import ApprovalStore, build_gate
from slipway.adapters.runtime import Runtime, reset_runtime
from tests.support.paths import CONFIG, load_event

from slipway.adapters import slack as slack_adapter
from slipway.domain.approval import ApprovalGate, handle_interaction, request_approval, slack_signature
from slipway.models.release import Plan, Release, release_id_for
from slipway.settings import Settings
from slipway_dev.local.fake_slack import FakeSlack
from slipway_dev.template import load_template, table_kwargs

REGION = "eu-west-2"
ACCOUNT = "123456789012"
BOT_TOKEN = "xoxb-111-222-TESTBOTTOKENnotreal"
SIGNING_SECRET = "5ecre7-signing-TESTSECRETnotreal"
STATE_TABLE = "slipway-state-test"
AUDIT_TABLE = "slipway-audit-test"
APPROVER_1 = "U0APPROVER1"
APPROVER_2 = "U0APPROVER2"
GROUP = "S0DEPLOYERS"
GROUP_MEMBER = "U0GROUPMEMBER"
PUSHER = "U0PUSHER"
STRANGER = "U0STRANGER"
START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

ENV_VARS = {
    "SLIPWAY_ENVIRONMENT": "test",
    "SLIPWAY_STATE_TABLE": STATE_TABLE,
    "SLIPWAY_AUDIT_TABLE": AUDIT_TABLE,
    "SLIPWAY_SLACK_SECRET_ARN": "",  # filled in with the moto secret's ARN
    "SLIPWAY_CONFIG_LOCATION": "",  # filled in with the test's config folder
}


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.now = self.now + timedelta(seconds=seconds)


@dataclass
class Started:
    release: Release
    plan: Plan
    execution_arn: str
    approval_id: str
    task_token: str


@dataclass
class GateWorld:
    gate: ApprovalGate
    fake: FakeSlack
    clock: Clock
    runtime: Runtime
    sfn: Any
    dynamodb: Any
    state_machine_arn: str
    store: ApprovalStore
    env: dict[str, str] = field(default_factory=dict)
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _n: int = 0

    def sent_failures(self) -> list[dict[str, Any]]:
        """SendTaskFailure requests as the gate sent them (moto drops the cause from the execution history)."""
        return [params for name, params in self.sent if name == "SendTaskFailure"]

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
        result = request_approval(
            {
                "task_token": token,
                "release": release.model_dump(mode="json"),
                "environment": "production",
                "plan": plan.model_dump(mode="json"),
            },
            self.gate,
        )
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
        answer = handle_interaction(
            self.click_event(approval_id, user, action, response_id=response_id, **kwargs), self.gate
        )
        assert answer["body"] == ""
        return {"status": answer["statusCode"], "replies": self.replies(response_id)}

    def replies(self, response_id: str) -> list[dict[str, Any]]:
        return [r["payload"] for r in self.fake.responses() if r["response_id"] == response_id]

    def record(self, approval_id: str) -> dict[str, Any]:
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


def write_config(root: Path, *, min_approvals: int = 1, allow_pusher: bool = False) -> Path:
    target = root / "config"
    shutil.copytree(CONFIG, target)
    path = target / "pipelines" / "web-app.yaml"
    data = yaml.safe_load(path.read_text())
    production = data["environments"][1]
    production["approval"] = {
        "required": True,
        "approvers": {"users": [APPROVER_1, APPROVER_2], "groups": [GROUP]},
        "min_approvals": min_approvals,
        "timeout_minutes": 60,
        "allow_pusher": allow_pusher,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def create_tables(dynamodb: Any) -> None:
    template = load_template()
    for name, logical in ((STATE_TABLE, "StateTable"), (AUDIT_TABLE, "AuditTable")):
        dynamodb.create_table(**table_kwargs(template, logical, name))


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
def world_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Call with config options (min_approvals, allow_pusher) to get a GateWorld; everything stops afterwards."""
    fake = FakeSlack(token=BOT_TOKEN).start()
    fake.usergroups[GROUP] = [GROUP_MEMBER]
    mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
    mock.start()
    parameters.clear_caches()
    parameters.base.DEFAULT_PROVIDERS.clear()
    slack_adapter._clients.clear()

    def make(**options: Any) -> GateWorld:
        config_dir = write_config(tmp_path / uuid.uuid4().hex, **options)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        if STATE_TABLE not in dynamodb.list_tables()["TableNames"]:
            create_tables(dynamodb)
        secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name=f"slipway/slack-{uuid.uuid4().hex[:8]}",
            SecretString=json.dumps({"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET}),
        )["ARN"]
        env = dict(ENV_VARS)
        env.update(
            {
                "SLIPWAY_SLACK_SECRET_ARN": secret_arn,
                "SLIPWAY_CONFIG_LOCATION": str(config_dir),
                "SLIPWAY_SLACK_API_URL": fake.base_url,
            }
        )
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings.from_env(env)
        rt = Runtime(settings=settings)
        reset_runtime(rt)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(
            name=f"gate-{uuid.uuid4().hex[:8]}",
            definition=json.dumps(GATE_ASL),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
        )["stateMachineArn"]
        clock = Clock()
        gate = build_gate(rt)
        gate.clock = clock
        store = gate.store
        world = GateWorld(gate, fake, clock, rt, sfn, dynamodb, arn, store, env)

        def spy(params: dict[str, Any], model: Any, **_: Any) -> None:
            world.sent.append((model.name, dict(params)))

        rt.aws.sfn.meta.events.register("provide-client-params.states.*", spy)
        return world

    try:
        yield make
    finally:
        reset_runtime()
        mock.stop()
        fake.stop()
        parameters.clear_caches()
        parameters.base.DEFAULT_PROVIDERS.clear()
        slack_adapter._clients.clear()
