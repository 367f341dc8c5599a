"""moto-backed pieces shared by the intake integration tests: the release state machine (created from
statemachine/release.asl.json via the template's DefinitionSubstitutions), the audit table, a Runtime bound to
them, and a counter of every AWS call the handlers make."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from slipway.adapters.runtime import Runtime
from tests.support.paths import CONFIG, ROOT

from slipway.adapters.aws import AwsClients
from slipway.settings import Settings
from slipway_dev.template import load_template, placeholder_arn, rendered_definitions, table_kwargs

ACCOUNT = "123456789012"
REGION = "eu-west-2"
STATE_MACHINE = "slipway-release-test"


def load_handler(function: str) -> ModuleType:
    """functions/<function>/app.py under a unique module name (every handler module is called `app`)."""
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"handler_{function}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class LambdaContext:
    function_name: str = "slipway-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:slipway-test"
    aws_request_id: str = "6f2c6c4e-2d1b-4a7e-9d0a-000000000001"


@dataclass
class Cloud:
    session: boto3.Session
    runtime: Runtime
    state_machine_arn: str
    calls: Counter[str] = field(default_factory=Counter)

    def executions(self) -> list[dict[str, Any]]:
        sfn = self.session.client("stepfunctions")
        return sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]

    def execution_input(self, arn: str) -> dict[str, Any]:
        sfn = self.session.client("stepfunctions")
        data: dict[str, Any] = json.loads(sfn.describe_execution(executionArn=arn)["input"])
        return data


def create_cloud(config_location: Path = CONFIG) -> Cloud:
    """Call inside `mock_aws()`."""
    session = boto3.Session(region_name=REGION)
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    setup = boto3.Session(region_name=REGION)
    ddb = setup.client("dynamodb")
    template = load_template()
    ddb.create_table(**table_kwargs(template, "AuditTable", "audit"))  # the schema template.yaml deploys
    definition = rendered_definitions(template, placeholder_arn)["ReleaseStateMachine"]
    arn = setup.client("stepfunctions").create_state_machine(
        name=STATE_MACHINE,
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/slipway-release",
        type="STANDARD",
    )["stateMachineArn"]
    settings = Settings.from_env(
        {
            "SLIPWAY_ENVIRONMENT": "test",
            "SLIPWAY_STATE_TABLE": "state",
            "SLIPWAY_AUDIT_TABLE": "audit",
            "SLIPWAY_CONFIG_LOCATION": str(config_location),
            "SLIPWAY_SLACK_SECRET_ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:slack",
            "SLIPWAY_STATE_MACHINE_ARN": arn,
        }
    )
    session.events.register("before-call", count)
    return Cloud(session, Runtime(settings=settings, aws=AwsClients(session)), arn, calls)
