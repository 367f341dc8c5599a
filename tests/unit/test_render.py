"""Rendering the seed's task definition and AppSpec, and every way it must refuse bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from slipway.domain.config import LocalConfigSource
from slipway.domain.plan import TAG_PLAN_HASH, make_plan
from slipway.domain.render import (
    appspec_content,
    diff_task_definitions,
    model_problems,
    render_environment,
)
from slipway.errors import RenderError
from slipway.models.config import Pipeline
from slipway.models.release import Release, release_id_for

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
    assert "~API_TOKEN: (hidden) -> (hidden)" in text and "token" not in text.replace("API_TOKEN", "")
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
