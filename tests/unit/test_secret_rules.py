"""The secret rules beyond ``environment``: commands, entry points, health checks, labels, log options and
environment files; names after Unicode normalisation; high-entropy values; and the plan diff, which masks every value
the rules flag (it goes into the Slack approval message and the audit trail)."""

from __future__ import annotations

import json
import random
import string
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slipway.domain.approval.request import request_approval
from slipway.domain.config import LocalConfigSource, load_config
from slipway.domain.release.prepare import prepare_environment
from slipway.domain.render.diff import diff_task_definitions
from slipway.domain.render.environment import render_environment
from slipway.domain.render.secrets import entropy_floor, high_entropy_rule, secret_problems, secret_rule
from slipway.models.config import Pipeline
from slipway.models.payloads import PrepareEnvironmentInput, RequestApprovalInput
from slipway.models.release import Release, release_id_for
from tests.support.clock import Clock
from tests.support.fakes import FakeGate, FakeRegistry, FakeReleaseDeps
from tests.support.paths import CONFIG

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed"
DIGEST = "sha256:" + "ab" * 32
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
AWS_EXAMPLE_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documentation example
VARIABLES: dict[str, Any] = {
    "app_image": "${image_uri}",
    "aws_region": "eu-west-2",
    "app_port": 3000,
    "rails_env": "staging",
    "fargate_cpu": "512",
    "fargate_memory": "1024",
    "secrets_prefix": "arn:aws:secretsmanager:eu-west-2:123456789123:secret:staging/app",
}


def pipeline(**env_changes: Any) -> Pipeline:
    environment: dict[str, Any] = {
        "name": "staging",
        "cluster": "staging-app-cluster",
        "service": "staging-app-service",
        "deployment": {"application": "codedeploy-app", "deployment_group": "codedeploy-deployment-group-staging"},
        "task_definition": {"source": "template", "path": "taskdef-valuefrom.json"},
        "containers": ["web", "sidekiq"],
        "variables": dict(VARIABLES),
        "appspec": {"path": "appspec.yaml"},
        **env_changes,
    }
    return Pipeline.model_validate({"name": "web-app", "repository": "app-images", "environments": [environment]})


def release() -> Release:
    return Release(
        release_id=release_id_for("web-app", DIGEST),
        pipeline="web-app",
        registry="123456789123.dkr.ecr.eu-west-2.amazonaws.com",
        repository="app-images",
        digest=DIGEST,
    )


def task_definition() -> dict[str, Any]:
    rendered = render_environment(pipeline(), pipeline().environments[0], release(), LocalConfigSource(SEED))
    assert rendered.problems == []
    return rendered.task_definition


def problems_with(change: dict[str, Any], allow: list[str] | None = None) -> list[str]:
    candidate = task_definition()
    candidate["containerDefinitions"][0].update(change)
    return secret_problems(candidate, allow or [], "taskdef.json")


# ---------------------------------------------------------------------------------------------- every field
@pytest.mark.parametrize(
    ("change", "where", "rule"),
    [
        ({"command": ["./run", "--password=hunter2cmd"]}, "command[1]", "secret-name"),
        ({"command": ["./run", "--password", "hunter2cmd"]}, "command[2]", "secret-name"),
        ({"command": ["sh", "-c", "PGPASSWORD=hunter2cmd psql -h db"]}, "command[2]", "secret-name"),
        ({"entryPoint": ["/entry", "--api-key=abc123abc"]}, "entryPoint[1]", "secret-name"),
        (
            {"healthCheck": {"command": ["CMD-SHELL", "curl -f http://admin:hunter2cmd@localhost/ || exit 1"]}},
            "healthCheck.command[1]",
            "url-password",
        ),
        ({"command": ["aws", "--secret", AWS_EXAMPLE_SECRET_KEY]}, "command[2]", "aws-secret-key"),
        ({"command": ["./sync", AWS_EXAMPLE_SECRET_KEY]}, "command[1]", "aws-secret-key"),
        ({"dockerLabels": {"com.example.token": "hunter2cmd"}}, "dockerLabels.com.example.token", "secret-name"),
        ({"dockerLabels": {"build": "ghp_" + "a1" * 18}}, "dockerLabels.build", "github-token"),
        (
            {"logConfiguration": {"logDriver": "awsfirelens", "options": {"apikey": "hunter2cmd", "Name": "x"}}},
            "logConfiguration.options.apikey",
            "secret-name",
        ),
        (
            {"logConfiguration": {"logDriver": "splunk", "options": {"splunk-url": "https://u:hunter2cmd@s.example"}}},
            "logConfiguration.options.splunk-url",
            "url-password",
        ),
    ],
)
def test_every_literal_field_of_a_container_is_checked(change: dict[str, Any], where: str, rule: str) -> None:
    (problem,) = problems_with(change)
    assert f"containerDefinitions[0].{where}: container 'web'" in problem
    assert f"rule {rule}: " in problem
    assert "hunter2cmd" not in problem and AWS_EXAMPLE_SECRET_KEY not in problem
    assert "allow_plaintext" in problem


def test_allow_plaintext_names_a_flag_a_label_an_option_or_a_whole_command() -> None:
    assert problems_with({"command": ["./run", "--password=hunter2cmd"]}, allow=["--password"]) == []
    assert problems_with({"command": ["./sync", AWS_EXAMPLE_SECRET_KEY]}, allow=["command"]) == []
    assert problems_with({"dockerLabels": {"token": "x1"}}, allow=["token"]) == []
    assert problems_with({"logConfiguration": {"logDriver": "x", "options": {"apikey": "y"}}}, allow=["apikey"]) == []


@pytest.mark.parametrize(
    "change",
    [
        {"command": ["bundle", "exec", "puma", "-C", "config/puma.rb", "-p", "3000"]},
        {"command": ["sh", "-c", "RAILS_ENV=production bundle exec rails db:migrate"]},
        {"command": ["./run", "--password-file=/run/secrets/db", "--token-path", "/var/run/token"]},
        {"entryPoint": ["/usr/local/bin/docker-entrypoint.sh"]},
        {"healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:3000/health || exit 1"]}},
        {"dockerLabels": {"com.datadoghq.ad.check_names": '["rails"]', "git.sha": "c" * 40}},
        {"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "ecs-logs"}}},
        {"environmentFiles": [{"value": "arn:aws:s3:::app-config-bucket/staging/app.env", "type": "s3"}]},
    ],
)
def test_plain_configuration_in_those_fields_passes(change: dict[str, Any]) -> None:
    assert problems_with(change) == []


@pytest.mark.parametrize("value", ["DATABASE_PASSWORD=hunter2cmd", "s3://bucket/app.env", "bucket/app.env", ""])
def test_an_environment_file_must_be_an_s3_object_arn(value: str) -> None:
    (problem,) = problems_with({"environmentFiles": [{"value": value, "type": "s3"}]})
    assert "environmentFiles[0]: container 'web': the value is not the ARN of an S3 object" in problem
    assert "hunter2cmd" not in problem


# ---------------------------------------------------------------------------------------------- names
def fullwidth(text: str) -> str:
    """The full-width forms of ASCII letters and punctuation (U+FF01..U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


@pytest.mark.parametrize(
    "name",
    [
        fullwidth("DB_PASSWORD"),  # full-width forms (NFKC)
        "DB_PASS\u200bWORD",  # a zero-width space inside the word
        "DB_PÄSSWORD",  # an accent
        "db_password",  # lower case
        "Db\ufe4dSecret",  # a compatibility low line (U+FE4D)
        fullwidth("API_KEY"),
        "CLIENT_SE\u00adCRET",  # a soft hyphen
    ],
)
def test_names_are_matched_after_unicode_normalisation(name: str) -> None:
    why = secret_rule(name, "hunter2cmd")
    assert why is not None and why.startswith("secret-name")


# ---------------------------------------------------------------------------------------------- high entropy
def random_strings(alphabet: str, length: int, count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(alphabet) for _ in range(length)) for _ in range(count)]


BASE64 = string.ascii_letters + string.digits + "+/"
BASE64URL = string.ascii_letters + string.digits + "-_"


@pytest.mark.parametrize(
    ("alphabet", "length", "at_least"),
    [(BASE64, 40, 0.98), (BASE64, 32, 0.97), (BASE64URL, 43, 0.98), (BASE64, 64, 0.99), (BASE64, 88, 0.99)],
)
def test_random_keys_and_base64_blobs_are_recognised(alphabet: str, length: int, at_least: float) -> None:
    """The thresholds (``entropy_floor``, the class-change share) were set on these: at 32 characters a random
    string falls short of them in ~1.6 % of cases, at 64 in ~0.2 %; an AWS secret key (40) in ~0.3 %."""
    values = random_strings(alphabet, length, 1000, seed=length)
    found = sum(secret_rule("SOMETHING", value) is not None for value in values)
    assert found / len(values) >= at_least


def test_the_aws_documentation_secret_key_is_recognised_by_its_shape() -> None:
    assert secret_rule("UPLOADER", AWS_EXAMPLE_SECRET_KEY) == (
        "aws-secret-key: an AWS secret access key (40 random base64 characters)"
    )


NOT_SECRETS = [
    "arn:aws:secretsmanager:eu-west-2:123456789123:secret:production/app-AbCdEf",
    "arn:aws:iam::123456789012:role/service-role/AWSCodeDeployRoleForECS-ProductionBlueGreen2024",
    f"123456789012.dkr.ecr.eu-west-2.amazonaws.com/app-images@{DIGEST}",
    "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
    "bb3216c31784c14a4550e0e09069cdfac00d0165",  # a commit SHA
    str(uuid.UUID(int=0x0123456789ABCDEF0123456789ABCDEF)),
    "MyVeryLongApplicationNameForServiceX1",
    "AbstractSingletonProxyFactoryBean2Impl",
    "getUserAccountSettingsForTenantV2Handler",
    "APPLICATIONLOADBALANCERTARGETGROUP2023x",
    "/usr/local/bundle/gems/puma-6.4.2/lib/puma/cli.rb",
    "config/initializers/content_security_policy.rb",
    "production-app-service-blue-green-deployment-01",
    "https://example.com/a/very/long/path/that/goes/on/and/on/index.html",
]


@pytest.mark.parametrize("value", NOT_SECRETS)
def test_identifiers_digests_arns_and_paths_are_not_high_entropy(value: str) -> None:
    assert high_entropy_rule(value) is None
    assert secret_rule("SOMETHING", value) is None


def test_the_entropy_floor_sits_below_what_random_text_reaches() -> None:
    assert entropy_floor(32) == pytest.approx(4.0 - 0.016)
    assert entropy_floor(40) > 4.2 and entropy_floor(64) < 5.0  # hex (4 bits at most) stays out by its case


# ---------------------------------------------------------------------------------------------- the diff
def test_the_diff_masks_what_the_rules_flag_and_says_it_changed() -> None:
    live = task_definition()
    web = live["containerDefinitions"][0]
    web["environment"] += [
        {"name": "AWS_SECRET_ACCESS_KEY", "value": "old" + AWS_EXAMPLE_SECRET_KEY[3:]},
        {"name": "FEATURE", "value": "on"},
    ]
    web["command"] = ["./run", "--password=hunter1cmd"]
    candidate = json.loads(json.dumps(live))
    new_web = candidate["containerDefinitions"][0]
    for entry in new_web["environment"]:
        if entry["name"] == "AWS_SECRET_ACCESS_KEY":
            entry["value"] = AWS_EXAMPLE_SECRET_KEY
        if entry["name"] == "RAILS_ENV":
            entry["value"] = "production"
    new_web["environment"].append({"name": "COOKIE_SECRET", "value": "hunter3cmd"})
    new_web["command"] = ["./run", "--password=hunter2cmd"]
    new_web["entryPoint"] = ["sh", "-c", "PGPASSWORD=hunter4cmd exec ./start"]

    lines = diff_task_definitions(live, candidate)
    text = "\n".join(lines)
    for secret in ("hunter1cmd", "hunter2cmd", "hunter3cmd", "hunter4cmd", AWS_EXAMPLE_SECRET_KEY[3:]):
        assert secret not in text
    assert "~AWS_SECRET_ACCESS_KEY: ••• (changed)" in text
    assert "+COOKIE_SECRET=•••" in text
    assert '~RAILS_ENV: "staging" -> "production"' in text  # plain configuration stays visible
    assert "web: command ./run --password=••• (changed)" in lines
    assert "web: entryPoint (unset) -> sh -c PGPASSWORD=••• exec ./start" in lines


def test_a_value_allowed_as_plaintext_still_never_prints() -> None:
    live = task_definition()
    candidate = json.loads(json.dumps(live))
    candidate["containerDefinitions"][0]["environment"].append({"name": "UPLOADER", "value": AWS_EXAMPLE_SECRET_KEY})
    assert "+UPLOADER=•••" in "\n".join(diff_task_definitions(live, candidate))


def test_neither_the_audit_plan_event_nor_the_approval_message_shows_a_flagged_value() -> None:
    """Both take the plan's diff: what runs now has a password in its command and a secret key in its environment;
    prepare staging (the audit ``plan`` event), then ask for an approval with that plan (the Slack message)."""
    config = load_config(LocalConfigSource(CONFIG))
    deps = FakeReleaseDeps(config_fn=lambda: config, source=LocalConfigSource(CONFIG), clock=Clock(T0))
    staging = config.pipelines["web-app"].environment("staging")
    live = render_environment(
        config.pipelines["web-app"], staging, release(), LocalConfigSource(CONFIG)
    ).task_definition
    live["containerDefinitions"][0]["command"] = ["./run", "--password=hunter2cmd"]
    live["containerDefinitions"][0]["environment"].append({"name": "UPLOADER", "value": AWS_EXAMPLE_SECRET_KEY})
    deps.registry = FakeRegistry(live=live)

    plan = prepare_environment(deps, PrepareEnvironmentInput(release=release(), environment="staging"))
    [recorded] = [e.data for e in deps.audit.log if e.kind.value == "plan"]
    assert "web: command ./run --password=••• -> (unset)" in recorded["diff"]
    assert "-UPLOADER" in "\n".join(recorded["diff"])

    gate = FakeGate(config_fn=lambda: config, clock=Clock(T0))
    production = plan.model_copy(update={"environment": "production", "approval_required": True})
    request_approval(
        gate, RequestApprovalInput(task_token="t", release=release(), environment="production", plan=production)
    )
    everything = json.dumps([gate.slack.posts, recorded, [e.data for e in gate.audit.log]], default=str)
    assert "hunter2cmd" not in everything and AWS_EXAMPLE_SECRET_KEY not in everything
    assert "--password=•••" in json.dumps(gate.slack.posts, ensure_ascii=False)
