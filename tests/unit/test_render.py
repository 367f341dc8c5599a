"""Rendering the seed's task definition and AppSpec, and every way it must refuse bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from slipway.domain.config import LocalConfigSource
from slipway.domain.render.appspec import appspec_content
from slipway.domain.render.diff import diff_task_definitions
from slipway.domain.render.ecs_schema import model_problems
from slipway.domain.render.environment import render_environment
from slipway.domain.render.plan import make_plan
from slipway.errors import RenderError
from slipway.models.config import Pipeline
from slipway.models.release import TAG_PLAN_HASH, Release, release_id_for

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed"
DIGEST = "sha256:" + "ab" * 32
REGISTRY = "123456789123.dkr.ecr.eu-west-2.amazonaws.com"
IMAGE = f"{REGISTRY}/app-images@{DIGEST}"

SEED_VARIABLES: dict[str, Any] = {
    "app_image": "${image_uri}",
    "aws_region": "eu-west-2",
    "app_port": 3000,
    "rails_env": "staging",
    "rails_master_key": "0123456789abcdef",
    "postgresql_username": "app",
    "postgresql_password": "hunter2",
    "postgresql_host": "db.internal",
    "postgresql_db_name": "app",
    "fargate_cpu": "512",
    "fargate_memory": "1024",
    "secrets_prefix": "arn:aws:secretsmanager:eu-west-2:123456789123:secret:staging/app",
}


def seed_pipeline(taskdef: str = "taskdef-valuefrom.json", **env_changes: Any) -> Pipeline:
    environment: dict[str, Any] = {
        "name": "staging",
        "cluster": "staging-app-cluster",
        "service": "staging-app-service",
        "deployment": {"application": "codedeploy-app", "deployment_group": "codedeploy-deployment-group-staging"},
        "task_definition": {"source": "template", "path": taskdef},
        "containers": ["web", "sidekiq"],
        "variables": dict(SEED_VARIABLES),
        "appspec": {"path": "appspec.yaml"},
    }
    environment.update(env_changes)
    return Pipeline.model_validate({"name": "web-app", "repository": "app-images", "environments": [environment]})


def release(digest: str = DIGEST, **changes: Any) -> Release:
    data: dict[str, Any] = {
        "release_id": release_id_for("web-app", digest),
        "pipeline": "web-app",
        "registry": REGISTRY,
        "repository": "app-images",
        "digest": digest,
        "commit": "c" * 40,
    }
    data.update(changes)
    return Release.model_validate(data)


def render(pipeline: Pipeline, rel: Release | None = None, source: Path = SEED, **kwargs: Any) -> Any:
    return render_environment(pipeline, pipeline.environments[0], rel or release(), LocalConfigSource(source), **kwargs)


class MemoryRegistry:
    """An in-memory TaskDefinitionRegistry; the ECS one is tested against moto in tests/integration."""

    def __init__(self, live: dict[str, Any] | None = None) -> None:
        self.live = live
        self.registered: list[tuple[dict[str, Any], dict[str, str]]] = []

    def live_task_definition(self, cluster: str, service: str) -> dict[str, Any] | None:
        return self.live

    def register_or_reuse(
        self, task_definition: dict[str, Any], plan_hash: str, tags: dict[str, str]
    ) -> tuple[str, bool]:
        if self.registered and self.registered[-1][1][TAG_PLAN_HASH] == plan_hash:
            return f"arn:aws:ecs:eu-west-2:123456789123:task-definition/x:{len(self.registered)}", True
        self.registered.append((task_definition, tags))
        return f"arn:aws:ecs:eu-west-2:123456789123:task-definition/x:{len(self.registered)}", False


def test_seed_task_definition_is_valid_register_task_definition_input_once_secrets_use_value_from() -> None:
    rendered = render(seed_pipeline())
    assert rendered.problems == []
    td = rendered.task_definition
    assert model_problems(td) == []
    web, sidekiq = td["containerDefinitions"]
    assert web["portMappings"][0] == {"containerPort": 3000, "hostPort": 3000, "protocol": "tcp"}
    assert {"name": "PORT", "value": "3000"} in web["environment"]
    assert web["image"] == sidekiq["image"] == IMAGE
    assert td["cpu"] == "512"
    assert td["networkMode"] == "awsvpc"
    assert web["logConfiguration"]["options"]["awslogs-region"] == "eu-west-2"
    assert sidekiq["secrets"][0]["valueFrom"].endswith("staging/app:RAILS_MASTER_KEY::")
    assert rendered.appspec["Resources"][0]["TargetService"]["Properties"]["LoadBalancerInfo"] == {
        "ContainerName": "web",
        "ContainerPort": 3000,
    }


def test_seed_inline_secrets_are_refused_naming_each_container_and_variable() -> None:
    rendered = render(seed_pipeline("taskdef.json"))
    secret_lines = [p for p in rendered.problems if "literal value" in p]
    assert len(secret_lines) == 4
    for container, variable in [
        ("web", "RAILS_MASTER_KEY"),
        ("web", "DATABASE_URL"),
        ("sidekiq", "RAILS_MASTER_KEY"),
        ("sidekiq", "DATABASE_URL"),
    ]:
        assert any(f"container {container!r}, variable {variable}" in p for p in secret_lines)
    assert all("secrets" in p and "valueFrom" in p for p in secret_lines)
    assert any("credentials in a URL" in p for p in secret_lines)
    assert all("taskdef.json" in p for p in secret_lines)
    # The rest of the published file is fine: secrets are the only problem.
    assert len(rendered.problems) == 4
    assert "hunter2" not in "\n".join(rendered.problems)


def test_allow_plaintext_names_an_exception() -> None:
    rendered = render(seed_pipeline("taskdef.json", allow_plaintext=["RAILS_MASTER_KEY"]))
    assert [p for p in rendered.problems if "RAILS_MASTER_KEY" in p] == []
    assert len(rendered.problems) == 2  # DATABASE_URL in both containers


def test_every_missing_variable_is_reported_at_once_with_its_paths() -> None:
    variables = {k: v for k, v in SEED_VARIABLES.items() if k not in ("app_port", "aws_region", "rails_env")}
    rendered = render(seed_pipeline(variables=variables))
    missing = [p for p in rendered.problems if "is not defined" in p]
    assert len([p for p in missing if "taskdef-valuefrom.json" in p]) == 3
    port = next(p for p in missing if "${app_port}" in p and "taskdef" in p)
    assert "containerDefinitions[0].portMappings[0].containerPort" in port
    assert "containerDefinitions[0].environment[1].value" in port
    assert "environments[0].variables" in port
    assert any("appspec.yaml" in p and "${app_port}" in p for p in missing)
    assert any("${aws_region}" in p and "logConfiguration.options.awslogs-region" in p for p in missing)


def test_unknown_container_is_named() -> None:
    rendered = render(seed_pipeline(containers=["web", "worker"]))
    (problem,) = rendered.problems
    assert "no container named 'worker'" in problem
    assert "web, sidekiq" in problem
    assert "environments[0].containers" in problem


def test_a_string_cpu_is_fine_but_a_string_container_port_is_not(tmp_path: Path) -> None:
    text = (SEED / "taskdef-valuefrom.json").read_text()
    (tmp_path / "appspec.yaml").write_text((SEED / "appspec.yaml").read_text())
    (tmp_path / "taskdef.json").write_text(
        text.replace('"containerPort": ${app_port}', '"containerPort": "${app_port}"')
    )
    rendered = render(seed_pipeline("taskdef.json"), source=tmp_path)
    (problem,) = rendered.problems
    assert "containerDefinitions[0].portMappings[0].containerPort: expected an integer" in problem
    assert 'the string "3000"' in problem
    assert "without quotes" in problem

    (tmp_path / "taskdef.json").write_text(text.replace('"cpu": "${fargate_cpu}"', '"cpu": ${fargate_cpu}'))
    rendered = render(seed_pipeline("taskdef.json"), source=tmp_path)
    assert rendered.problems and "cpu: expected a string" in rendered.problems[0]


def test_model_check_covers_required_members_enums_and_unknown_fields() -> None:
    td = render(seed_pipeline()).task_definition
    td["networkMode"] = "vpc"
    td["containerDefinitions"][0]["portMappings"][0]["protocol"] = "TCP"
    td["containerDefinitions"][1]["essentail"] = True
    del td["family"]
    problems = model_problems(td)
    assert "family: required by RegisterTaskDefinition but missing; add it" in problems
    assert any(p.startswith("networkMode: 'vpc' is not allowed; use one of") and "awsvpc" in p for p in problems)
    assert any("portMappings[0].protocol: 'TCP' is not allowed" in p for p in problems)
    assert any("containerDefinitions[1].essentail: not a RegisterTaskDefinition field" in p for p in problems)
    assert any("did you mean 'essential'" in p for p in problems)


def test_read_only_fields_are_stripped_and_live_source_pins_only_named_containers() -> None:
    base = render(seed_pipeline()).task_definition
    live = json.loads(json.dumps(base))
    live["containerDefinitions"][1]["image"] = "public.ecr.aws/sidecar:1.0"
    live |= {
        "taskDefinitionArn": "arn:aws:ecs:eu-west-2:123456789123:task-definition/app-task:7",
        "revision": 7,
        "status": "ACTIVE",
        "requiresAttributes": [{"name": "ecs.capability.secrets.asm.environment-variables"}],
        "compatibilities": ["EC2", "FARGATE"],
        "registeredAt": "2024-01-01T00:00:00Z",
        "registeredBy": "arn:aws:iam::123456789123:role/ci",
        "tags": [{"key": "slipway:plan-hash", "value": "old"}, {"key": "team", "value": "web"}],
        "pidMode": None,
    }
    pipeline = seed_pipeline(task_definition={"source": "live"}, containers=["web"])
    rendered = render(pipeline, live=live)
    assert rendered.problems == []
    td = rendered.task_definition
    assert not {"taskDefinitionArn", "revision", "status", "registeredAt", "compatibilities", "pidMode"} & set(td)
    assert td["tags"] == [{"key": "team", "value": "web"}]
    assert td["containerDefinitions"][0]["image"] == IMAGE
    assert td["containerDefinitions"][1]["image"] == "public.ecr.aws/sidecar:1.0"


def test_codepipeline_placeholders_in_artifact_files(tmp_path: Path) -> None:
    taskdef = (SEED / "taskdef-valuefrom.json").read_text().replace("${app_image}", "<IMAGE1_NAME>")
    pipeline = seed_pipeline(task_definition={"source": "artifact", "path": "taskdef-staging.json"}, containers=["web"])
    rel = release(artifacts={"taskdef-staging.json": taskdef})
    rendered = render(pipeline, rel, source=tmp_path, live=None)
    assert any("appspec.yaml: file not found" in p for p in rendered.problems)
    rel = release(artifacts={"taskdef-staging.json": taskdef, "appspec.yaml": (SEED / "appspec.yaml").read_text()})
    rendered = render(pipeline, rel, source=tmp_path)
    assert rendered.problems == []
    assert {c["image"] for c in rendered.task_definition["containerDefinitions"]} == {IMAGE}

    last = taskdef.rindex("<IMAGE1_NAME>")  # the sidekiq container's image
    two = taskdef[:last] + "<IMAGE2_NAME>" + taskdef[last + len("<IMAGE1_NAME>") :]
    assert "<IMAGE2_NAME>" in two
    rel = release(artifacts={"taskdef-staging.json": two, "appspec.yaml": (SEED / "appspec.yaml").read_text()})
    (problem,) = render(pipeline, rel, source=tmp_path).problems
    assert "containerDefinitions[1].image: <IMAGE2_NAME> is left" in problem


def test_plan_hash_is_stable_and_follows_digest_and_content() -> None:
    first = render(seed_pipeline()).plan_hash
    assert render(seed_pipeline()).plan_hash == first
    assert render(seed_pipeline(), release("sha256:" + "cd" * 32)).plan_hash != first
    variables = dict(SEED_VARIABLES, fargate_memory="2048")
    assert render(seed_pipeline(variables=variables)).plan_hash != first


def test_a_variable_may_reference_a_builtin_but_not_shadow_one() -> None:
    variables = dict(SEED_VARIABLES, rails_env="${environment}-${commit}")
    td = render(seed_pipeline(variables=variables)).task_definition
    assert {"name": "RAILS_ENV", "value": "staging-" + "c" * 40} in td["containerDefinitions"][0]["environment"]
    rendered = render(seed_pipeline(variables=dict(SEED_VARIABLES, image_uri="x", rails_env="${nope}")))
    assert any("variables.image_uri: 'image_uri' is a built-in" in p for p in rendered.problems)
    assert any("variables.rails_env: ${nope} is not a built-in" in p for p in rendered.problems)


def test_appspec_built_from_container_and_port_with_hooks() -> None:
    pipeline = seed_pipeline(
        appspec={"container_name": "web", "container_port": 3000, "hooks": {"AfterAllowTestTraffic": "smoke-test"}}
    )
    rendered = render(pipeline)
    assert rendered.problems == []
    content, digest = appspec_content(rendered.appspec, "arn:aws:ecs:eu-west-2:1:task-definition/app-task:3")
    spec = json.loads(content)
    props = spec["Resources"][0]["TargetService"]["Properties"]
    assert props["TaskDefinition"] == "arn:aws:ecs:eu-west-2:1:task-definition/app-task:3"
    assert spec["Hooks"] == [{"AfterAllowTestTraffic": "smoke-test"}]
    assert digest == hashlib.sha256(content.encode()).hexdigest()

    wrong = render(seed_pipeline(appspec={"container_name": "web", "container_port": 8080}))
    (problem,) = wrong.problems
    assert "LoadBalancerInfo.ContainerPort: container 'web' maps no port 8080" in problem


def test_diff_is_short_and_hides_secret_values() -> None:
    live = render(seed_pipeline()).task_definition
    live["containerDefinitions"][0]["environment"].append({"name": "API_TOKEN", "value": "old-token"})
    candidate = json.loads(json.dumps(live))
    web = candidate["containerDefinitions"][0]
    web["image"] = f"{REGISTRY}/app-images@sha256:{'cd' * 32}"
    web["environment"][-1]["value"] = "new-token"
    web["environment"].append({"name": "FEATURE", "value": "on"})
    web["secrets"].append({"name": "STRIPE_KEY", "valueFrom": "arn:aws:ssm:eu-west-2:1:parameter/stripe"})
    web["portMappings"].append({"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"})
    candidate["containerDefinitions"][1]["command"] = ["bundle", "exec", "sidekiq", "-q", "default"]
    candidate["memory"] = "2048"
    lines = diff_task_definitions(live, candidate)
    text = "\n".join(lines)
    assert "task: memory 1024 -> 2048" in lines
    assert f"web: image app-images@sha256:{'ab' * 6} -> app-images@sha256:{'cd' * 6}" in lines
    assert "~API_TOKEN: ••• (changed)" in text and "token" not in text.replace("API_TOKEN", "")
    assert '+FEATURE="on"' in text
    assert "web: secrets +STRIPE_KEY" in lines
    assert "web: ports 3000/tcp, 22/tcp -> 3000/tcp, 22/tcp, 8080/tcp" in lines
    assert any(line.startswith("sidekiq: command") for line in lines)
    assert diff_task_definitions(live, live) == ["no changes"]
    assert len(lines) <= 15


def test_make_plan_registers_nothing_when_validation_fails_and_reuses_the_same_plan() -> None:
    registry = MemoryRegistry()
    bad = seed_pipeline("taskdef.json")
    with pytest.raises(RenderError) as raised:
        make_plan(
            pipeline=bad,
            environment=bad.environments[0],
            release=release(),
            source=LocalConfigSource(SEED),
            registry=registry,
        )
    assert "nothing registered" in str(raised.value)
    assert "RAILS_MASTER_KEY" in str(raised.value)
    assert registry.registered == []

    good = seed_pipeline()
    kwargs: dict[str, Any] = {
        "pipeline": good,
        "environment": good.environments[0],
        "release": release(),
        "source": LocalConfigSource(SEED),
        "registry": registry,
    }
    first, second = make_plan(**kwargs), make_plan(**kwargs)
    assert len(registry.registered) == 1
    assert (first.reused_revision, second.reused_revision) == (False, True)
    assert first.plan_hash == second.plan_hash
    tags = registry.registered[0][1]
    assert tags == {
        "slipway:release-id": release().release_id,
        "slipway:digest": DIGEST,
        "slipway:plan-hash": first.plan_hash,
        "slipway:commit": "c" * 40,
    }
    assert first.task_definition_arn in first.appspec_content
    assert first.diff[0].startswith("new: nothing running yet")
    assert first.approval_timeout_seconds == 3600 and first.deployment_wait_seconds == 180 * 60


# ---------------------------------------------------------------- secret hygiene: names and values, table-driven
def _with_env(name: str, value: str, **env_changes: Any) -> list[str]:
    rendered = render(seed_pipeline(**env_changes))
    candidate = rendered.task_definition
    candidate["containerDefinitions"][0]["environment"] = [{"name": name, "value": value}]
    from slipway.domain.render.secrets import secret_problems

    return secret_problems(candidate, seed_pipeline(**env_changes).environments[0].allow_plaintext, "taskdef.json")


SECRET_CASES = [
    ("DB_PASS", "hunter2", "secret-name"),
    ("PWD", "hunter2", "secret-name"),
    ("SMTP_PASSWD", "hunter2", "secret-name"),
    ("MYSQL_PASSWORD", "hunter2", "secret-name"),
    ("API_KEY", "abc123", "secret-name"),
    ("APIKEY", "abc123", "secret-name"),
    ("X-API-KEY", "abc123", "secret-name"),
    ("STRIPE_API_KEY_PROD", "abc123", "secret-name"),
    ("RAILS_MASTER_KEY", "0123456789abcdef", "secret-name"),
    ("CLIENT_SECRET", "abc", "secret-name"),
    ("AUTHORIZATION", "abc", "secret-name"),
    ("UPSTREAM_AUTH", "Bearer abcdef123456", "authorization-header"),
    ("AUTH_HEADER", "Basic dXNlcjpwYXNzd29yZA==", "authorization-header"),
    ("NOTIFY", "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX", "webhook-url"),
    ("ALERTS_URL", "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX", "webhook-url"),
    ("DISCORD_URL", "https://discord.com/api/webhooks/123/abc", "webhook-url"),
    ("SENTRY_DSN", "https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/1", "url-key"),
    ("ERRORS_URL", "https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/1", "url-key"),
    ("DATABASE_URL", "postgres://app:hunter2@db.internal/app", "url-password"),
    ("UPLOAD_ID", "AKIAIOSFODNN7EXAMPLE", "aws-access-key"),
    ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", "aws-access-key"),
    ("GIT_HELPER", "ghp_" + "a1" * 18, "github-token"),
    ("CI_THING", "gho_" + "b2" * 18, "github-token"),
    ("CI_OTHER", "github_pat_" + "11ABCDEFG" * 4, "github-token"),
    ("SLACK_BOT", "xoxb-1234-5678-abcdefghij", "slack-token"),
    ("SLACK_USER", "xoxp-1234-5678-abcdefghij", "slack-token"),
    ("PAYMENTS", "sk_live_" + "c3" * 12, "stripe-live-key"),
    ("CERT", "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----", "private-key"),
    ("PUBLIC_KEY", "-----BEGIN PRIVATE KEY-----\nMIIE...", "private-key"),
    ("TLS", "-----BEGIN OPENSSH PRIVATE KEY-----", "private-key"),
]


@pytest.mark.parametrize(("name", "value", "rule"), SECRET_CASES)
def test_a_plaintext_secret_is_refused_naming_the_rule_never_the_value(name: str, value: str, rule: str) -> None:
    (problem,) = _with_env(name, value)
    assert f"variable {name}: rule {rule}: " in problem
    assert "literal value" in problem and "valueFrom" in problem and "allow_plaintext" in problem
    assert value not in problem
    # allow_plaintext is still the way to say "this one is fine".
    assert _with_env(name, value, allow_plaintext=[name]) == []


NOT_SECRET_CASES = [
    ("PUBLIC_KEY_URL", "https://example.com/.well-known/jwks.json"),
    ("PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----\nMIIB..."),
    ("JWT_PUBLIC_KEY", "MIIBIjANBgkqh"),
    ("AWS_ACCESS_KEY_ID", "not-an-access-key"),
    ("KMS_KEY_ID", "alias/app"),
    ("TOKEN_URL", "https://auth.example.com/oauth/token"),
    ("OAUTH_TOKEN_ENDPOINT", "https://auth.example.com/oauth/token"),
    ("SECRETS_PREFIX", "arn:aws:secretsmanager:eu-west-2:123456789123:secret:staging/app"),
    ("REDIS_URL", "redis://cache.internal:6379/0"),
    ("GIT_REMOTE", "ssh://git@github.com/example/app.git"),
    ("RAILS_ENV", "production"),
    ("PASSENGER_APP_ENV", "production"),
    ("MONITORING", "on"),
    ("HOMEPAGE", "https://example.com/services/hooks"),
    ("GREETING", "Bearer"),
    ("DEPLOY_NOTE", "tokens rotate weekly"),
]


@pytest.mark.parametrize(("name", "value"), NOT_SECRET_CASES)
def test_a_harmless_variable_is_not_flagged(name: str, value: str) -> None:
    assert _with_env(name, value) == []


# ---------------------------------------------------------------- diff shown to approvers
def test_diff_says_unset_never_none_or_null_and_tells_task_from_container_limits() -> None:
    live = render(seed_pipeline()).task_definition
    live["containerDefinitions"][0]["cpu"] = 0
    live["containerDefinitions"][0]["memory"] = 512
    candidate = json.loads(json.dumps(live))
    web = candidate["containerDefinitions"][0]
    del web["cpu"], web["memory"]
    web["command"] = ["bundle", "exec", "puma", "-C", "config/puma.rb"]
    del candidate["memory"]
    lines = diff_task_definitions(live, candidate)
    text = "\n".join(lines)
    assert "None" not in text and "null" not in text
    assert "web: container cpu 0 -> (unset)" in lines
    assert "web: container memory 512 -> (unset)" in lines
    assert "task: memory 1024 -> (unset)" in lines
    assert "web: command (unset) -> bundle exec puma -C config/puma.rb" in lines
    # and back again
    back = diff_task_definitions(candidate, live)
    assert "web: command bundle exec puma -C config/puma.rb -> (unset)" in back
    assert "task: memory (unset) -> 1024" in back
    # A task-level "512" and 512 are the same cpu: no line.
    candidate["cpu"] = int(live["cpu"])
    assert not any(line.startswith("task: cpu") for line in diff_task_definitions(live, candidate))


def test_diff_of_a_first_deployment_says_unset_for_missing_task_limits() -> None:
    candidate = render(seed_pipeline()).task_definition
    del candidate["cpu"]
    lines = diff_task_definitions(None, candidate)
    assert lines[-1] == f"task: cpu (unset), memory {candidate['memory']}"
