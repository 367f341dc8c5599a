"""One moto world for integration tests: moto in-process (Step Functions' interpreter on), the template's tables,
the Slack secret, the fake Slack over loopback HTTP, a copy of config/ a test may edit, and the real wiring over
all of it (``world.wiring()``; pass clients wrapped in ``botocore.stub.Stubber`` to replace single services).

Use the ``moto_world`` fixture (``tests/integration/conftest.py``) or ``moto_world_factory`` for options; a test
that needs only one of the template's tables uses ``moto_table`` (``create_table`` makes one in any DynamoDB).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from slipway.adapters import slack as slack_adapter
from slipway.adapters.aws import AwsClients
from slipway.domain.config import LocalConfigSource, load_config
from slipway.models.config import CodeDeployMethod, SlipwayConfig
from slipway.settings import Settings
from slipway.wiring import Wiring, reset_wiring
from slipway_dev.local.deploy import approval_pipeline_names
from slipway_dev.local.fake_slack import FakeSlack
from slipway_dev.stack_parameters import task_role_arns
from slipway_dev.template import load_template, placeholder_arn, rendered_definitions, table_kwargs
from tests.support.clock import Clock
from tests.support.iam import register_world
from tests.support.paths import CONFIG, EVENTS

REGION = "eu-west-2"
ACCOUNT = "123456789012"
BOT_TOKEN = "xoxb-111-222-TESTBOTTOKENnotreal"
SIGNING_SECRET = "5ecre7-signing-TESTSECRETnotreal"
STATE_TABLE = "slipway-state-test"
AUDIT_TABLE = "slipway-audit-test"
CODEDEPLOY_APP = "codedeploy-app"
APPROVER_1 = "U0APPROVER1"
APPROVER_2 = "U0APPROVER2"
GROUP = "S0DEPLOYERS"
GROUP_MEMBER = "U0GROUPMEMBER"
PUSHER = "U0PUSHER"
STRANGER = "U0STRANGER"

ConfigEdit = Callable[[dict[str, Any]], None]


def create_table(dynamodb: Any, logical_id: str, name: str, template: dict[str, Any] | None = None) -> None:
    """Table ``name`` exactly as template.yaml declares ``logical_id`` (keys, indexes, billing)."""
    dynamodb.create_table(**table_kwargs(template or load_template(), logical_id, name))


@contextmanager
def moto_table(logical_id: str, name: str) -> Iterator[Any]:
    """moto without the whole world: a DynamoDB client with one table of template.yaml (``AuditTable``, ...)."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client, logical_id, name)
        yield client


def _reset_process_caches() -> None:
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    parameters.base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined]
    slack_adapter._clients.clear()
    reset_wiring()


@dataclass
class MotoWorld:
    session: boto3.Session
    slack: FakeSlack
    clock: Clock
    config_dir: Path
    settings: Settings
    calls: Counter[str] = field(default_factory=Counter)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _clients: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ clients and wiring
    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=REGION)
        return self._clients[service]

    def wiring(self, *, clock: Callable[[], datetime] | None = None, **clients: Any) -> Wiring:
        """The production wiring over this world; ``clients`` replace single AwsClients attributes (``sfn=...``).

        ``clock``: the world's hand-moved clock by default; ``utcnow`` where stored times must keep increasing.
        """
        aws = AwsClients(self.session)
        for name, client in clients.items():
            aws.__dict__[name] = client  # AwsClients' cached_property reads this first
        return Wiring(self.settings, aws, clock=clock or self.clock)

    def install(self, **clients: Any) -> Wiring:
        """Make ``wiring()`` (what the handlers call) this world's wiring."""
        made = self.wiring(**clients)
        reset_wiring(made)
        return made

    @property
    def config(self) -> SlipwayConfig:
        return self.wiring().config()

    def edit_config(self, edit: ConfigEdit, pipeline: str = "web-app") -> None:
        """Change ``pipelines/<pipeline>.yaml`` of this world's config copy (the next wiring reads it)."""
        path = self.config_dir / "pipelines" / f"{pipeline}.yaml"
        data = yaml.safe_load(path.read_text())
        edit(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    # ------------------------------------------------------------------ what some tests need besides
    def release_state_machine(self, name: str = "slipway-release-test") -> str:
        """The real release state machine (statemachine/release.asl.json), its Lambda ARNs placeholders."""
        definition = rendered_definitions(load_template(), placeholder_arn)["ReleaseStateMachine"]
        arn: str = self.client("stepfunctions").create_state_machine(
            name=name,
            definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/slipway-release",
            type="STANDARD",
        )["stateMachineArn"]
        return arn

    def with_release_state_machine(self) -> str:
        """Create the release state machine and point the function settings (and ``wiring()``) at it."""
        arn = self.release_state_machine()
        self.settings = self.settings.model_copy(update={"state_machine_arn": arn})
        self.install()
        return arn

    def executions(self) -> list[dict[str, Any]]:
        arn = self.settings.state_machine_arn
        assert arn, "call with_release_state_machine() first"
        executions: list[dict[str, Any]] = self.client("stepfunctions").list_executions(stateMachineArn=arn)[
            "executions"
        ]
        return executions

    def execution_input(self, execution_arn: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            self.client("stepfunctions").describe_execution(executionArn=execution_arn)["input"]
        )
        return data

    def deploy_targets(self) -> None:
        """The clusters and the CodeDeploy applications and groups config/ names."""
        ecs, codedeploy = self.client("ecs"), self.client("codedeploy")
        applications: set[str] = set()
        for pipeline in self.config.pipelines.values():
            for env in pipeline.environments:
                ecs.create_cluster(clusterName=env.cluster)
                if not isinstance(env.deployment, CodeDeployMethod):
                    continue  # ECS-native: no CodeDeploy resources
                application = env.deployment.application
                if application not in applications:
                    codedeploy.create_application(applicationName=application, computePlatform="ECS")
                    applications.add(application)
                codedeploy.create_deployment_group(
                    applicationName=application,
                    deploymentGroupName=env.deployment.deployment_group,
                    serviceRoleArn=f"arn:aws:iam::{ACCOUNT}:role/codedeploy",
                    deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
                    ecsServices=[{"serviceName": env.service, "clusterName": env.cluster}],
                )

    def sent(self, operation: str) -> list[dict[str, Any]]:
        """Requests this world's clients sent for ``operation`` (moto drops some of what AWS keeps, e.g. causes)."""
        return [params for name, params in self.requests if name == operation]


def _approval_policy(data: dict[str, Any], **policy: Any) -> None:
    production = data["environments"][1]
    production["approval"] = {
        "required": True,
        "approvers": {"users": [APPROVER_1, APPROVER_2], "groups": [GROUP]},
        "min_approvals": 1,
        "timeout_minutes": 60,
        "allow_pusher": False,
        **policy,
    }


@pytest.fixture
def moto_world_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., MotoWorld]]:
    """``factory(approval=dict(...), edit=fn)`` -> a MotoWorld; everything stops after the test."""
    fake = FakeSlack(token=BOT_TOKEN).start()
    fake.usergroups[GROUP] = [GROUP_MEMBER]
    mocks: list[Any] = []

    def make(
        *,
        approval: dict[str, Any] | None = None,
        edit: ConfigEdit | None = None,
        run_executions: bool = True,
    ) -> MotoWorld:
        """``run_executions``: moto's Step Functions interpreter runs executions (else they stay RUNNING)."""
        if not mocks:
            mock = mock_aws(
                config={"stepfunctions": {"execute_state_machine": run_executions}, "lambda": {"use_docker": False}}
            )
            mock.start()
            mocks.append(mock)
            _reset_process_caches()
        config_dir = tmp_path / f"config-{uuid.uuid4().hex[:8]}"
        shutil.copytree(CONFIG, config_dir)
        session = boto3.Session(region_name=REGION)
        dynamodb = session.client("dynamodb")
        if STATE_TABLE not in dynamodb.list_tables()["TableNames"]:
            template = load_template()
            for name, logical in ((STATE_TABLE, "StateTable"), (AUDIT_TABLE, "AuditTable")):
                create_table(dynamodb, logical, name, template)
        secret_arn = session.client("secretsmanager").create_secret(
            Name=f"slipway/slack-{uuid.uuid4().hex[:8]}",
            SecretString=json.dumps({"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET}),
        )["ARN"]
        env = {
            "SLIPWAY_ENVIRONMENT": "test",
            "SLIPWAY_STATE_TABLE": STATE_TABLE,
            "SLIPWAY_AUDIT_TABLE": AUDIT_TABLE,
            "SLIPWAY_SLACK_SECRET_ARN": secret_arn,
            "SLIPWAY_CONFIG_LOCATION": str(config_dir),
            "SLIPWAY_SLACK_API_URL": fake.base_url,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        world = MotoWorld(session, fake, Clock(), config_dir, Settings.from_env(env))
        register_world(
            f"moto-world-{uuid.uuid4().hex[:8]}",
            parameters={
                "EnvironmentName": "test",
                "SlackSecretArn": secret_arn,
                "ConfigLocation": str(config_dir),
                "RepositoryNames": ["app-images"],
                "TaskRoleArns": task_role_arns(load_config(LocalConfigSource(config_dir)), config_dir),
                "ApprovalPipelineArns": [
                    f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{name}" for name in approval_pipeline_names(EVENTS)
                ],
            },
            names={"StateTable": STATE_TABLE, "AuditTable": AUDIT_TABLE},
            state_machine=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:slipway-release-test",
        )
        if approval is not None:
            world.edit_config(lambda data: _approval_policy(data, **approval))
        if edit is not None:
            world.edit_config(edit)

        def count(model: Any, params: dict[str, Any], **_: Any) -> None:
            world.calls[f"{model.service_model.service_name}.{model.name}"] += 1
            world.requests.append((model.name, dict(params)))

        session.events.register("provide-client-params", count)
        return world

    try:
        yield make
    finally:
        _reset_process_caches()
        for mock in mocks:
            mock.stop()
        fake.stop()


@pytest.fixture
def moto_world(moto_world_factory: Callable[..., MotoWorld]) -> MotoWorld:
    """A MotoWorld over config/ as it is."""
    return moto_world_factory()
