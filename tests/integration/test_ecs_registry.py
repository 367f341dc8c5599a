"""EcsRegistry against moto: idempotent registration, the live source, s3:// templates and `slipway diff`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from tests.support.paths import CONFIG

from slipway.adapters.ecs import EcsRegistry
from slipway.adapters.s3 import read_s3_text
from slipway.domain.config import LocalConfigSource, load_config
from slipway.domain.render.environment import render_environment
from slipway.domain.render.plan import make_plan
from slipway.errors import RenderError
from slipway.models.config import Environment, Pipeline
from slipway.models.release import Release, release_id_for
from slipway_dev.cli import main

pytestmark = pytest.mark.integration

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed"
REGISTRY = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"


def digest(char: str) -> str:
    return "sha256:" + char * 64


def release(pipeline: Pipeline, sha: str) -> Release:
    return Release(
        release_id=release_id_for(pipeline.name, sha),
        pipeline=pipeline.name,
        registry=REGISTRY,
        repository=pipeline.repository,
        digest=sha,
        commit="f" * 40,
    )


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        yield boto3.Session(region_name="eu-west-2")


@pytest.fixture
def example() -> Pipeline:
    return load_config(LocalConfigSource(CONFIG)).pipeline("web-app")


def with_environment(pipeline: Pipeline, name: str, **changes: Any) -> Pipeline:
    """The pipeline with only environment ``name``, changed (validated again, as config would be)."""
    env = Environment.model_validate({**pipeline.environment(name).model_dump(), **changes})
    return pipeline.model_copy(update={"environments": [env]})


def revisions(ecs: Any, family: str) -> list[str]:
    arns: list[str] = ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]
    return arns


def plan_for(pipeline: Pipeline, env: str, sha: str, ecs: Any, **kwargs: Any) -> Any:
    return make_plan(
        pipeline=pipeline,
        environment=pipeline.environment(env),
        release=release(pipeline, sha),
        source=kwargs.pop("source", LocalConfigSource(CONFIG)),
        registry=EcsRegistry(ecs),
        **kwargs,
    )


def test_the_same_plan_twice_registers_one_revision(aws: Any, example: Pipeline) -> None:
    ecs = aws.client("ecs")
    first = plan_for(example, "staging", digest("a"), ecs)
    second = plan_for(example, "staging", digest("a"), ecs)
    assert revisions(ecs, "app-task-staging") == [first.task_definition_arn]
    assert (first.reused_revision, second.reused_revision) == (False, True)
    assert second.task_definition_arn == first.task_definition_arn
    described = ecs.describe_task_definition(taskDefinition=first.task_definition_arn, include=["TAGS"])
    tags = {t["key"]: t["value"] for t in described["tags"]}
    assert tags == {
        "slipway:release-id": first.release_id,
        "slipway:digest": digest("a"),
        "slipway:plan-hash": first.plan_hash,
        "slipway:commit": "f" * 40,
    }
    images = {c["image"] for c in described["taskDefinition"]["containerDefinitions"]}
    assert images == {f"{REGISTRY}/app-images@{digest('a')}"}

    third = plan_for(example, "staging", digest("b"), ecs)
    assert not third.reused_revision
    assert len(revisions(ecs, "app-task-staging")) == 2


def test_nothing_is_registered_when_validation_fails(aws: Any, example: Pipeline) -> None:
    ecs = aws.client("ecs")
    broken = with_environment(example, "staging", containers=["web", "worker"])
    with pytest.raises(RenderError, match="no container named 'worker'"):
        plan_for(broken, "staging", digest("a"), ecs)
    assert revisions(ecs, "app-task-staging") == []


def _running_service(aws: Any, example: Pipeline) -> str:
    """The staging service running a revision registered from the example (digest a)."""
    ecs = aws.client("ecs")
    rendered = render_environment(
        example, example.environment("staging"), release(example, digest("a")), LocalConfigSource(CONFIG)
    )
    arn: str = ecs.register_task_definition(**rendered.task_definition)["taskDefinition"]["taskDefinitionArn"]
    ecs.create_cluster(clusterName="staging-app-cluster")
    ecs.create_service(cluster="staging-app-cluster", serviceName="staging-app-service", taskDefinition=arn)
    return arn


def test_live_source_replaces_only_the_named_containers_and_diffs(aws: Any, example: Pipeline) -> None:
    ecs = aws.client("ecs")
    running = _running_service(aws, example)
    registry = EcsRegistry(ecs)
    live = registry.live_task_definition("staging-app-cluster", "staging-app-service")
    assert live is not None and live["taskDefinitionArn"] == running
    assert registry.live_task_definition("staging-app-cluster", "nope") is None

    live_pipeline = with_environment(example, "staging", task_definition={"source": "live"}, containers=["web"])
    plan = plan_for(live_pipeline, "staging", digest("b"), ecs)
    assert not plan.reused_revision
    containers = ecs.describe_task_definition(taskDefinition=plan.task_definition_arn)["taskDefinition"][
        "containerDefinitions"
    ]
    images = {c["name"]: c["image"] for c in containers}
    assert images == {"web": f"{REGISTRY}/app-images@{digest('b')}", "sidekiq": f"{REGISTRY}/app-images@{digest('a')}"}
    assert plan.diff == [f"web: image app-images@sha256:{'a' * 12} -> app-images@sha256:{'b' * 12}"]


def test_templates_from_s3_with_a_local_config_folder(aws: Any, example: Pipeline, tmp_path: Path) -> None:
    s3, ecs = aws.client("s3"), aws.client("ecs")
    s3.create_bucket(Bucket="build-artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    for key, file in (("task-definition.json", "taskdef-valuefrom.json"), ("appspec.yaml", "appspec.yaml")):
        s3.put_object(Bucket="build-artifacts", Key=f"defs/staging/{key}", Body=(SEED / file).read_bytes())
    seed = with_environment(
        example,
        "staging",
        task_definition={"source": "template", "path": "s3://build-artifacts/defs/staging/task-definition.json"},
        appspec={"path": "s3://build-artifacts/defs/staging/appspec.yaml"},
        variables={
            "app_image": "${image_uri}",
            "aws_region": "eu-west-2",
            "app_port": 3000,
            "rails_env": "staging",
            "fargate_cpu": "512",
            "fargate_memory": "1024",
            "secrets_prefix": "arn:aws:secretsmanager:eu-west-2:123456789123:secret:staging/app",
        },
    )
    plan = plan_for(
        seed, "staging", digest("c"), ecs, source=LocalConfigSource(tmp_path), read_s3=lambda u: read_s3_text(s3, u)
    )
    assert plan.task_definition_arn.endswith("task-definition/app-task:1")  # the seed's own family
    assert '"ContainerPort":3000' in plan.appspec_content


def test_diff_command_against_the_live_service(aws: Any, example: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    aws.client("ecr").create_repository(repositoryName="app-images")
    _running_service(aws, example)
    assert main(["diff", "web-app", "staging", "--image-digest", digest("b"), "--config", str(CONFIG)]) == 0
    out = capsys.readouterr().out
    assert "web-app/staging (staging-app-cluster/staging-app-service):" in out
    assert f"web: image app-images@sha256:{'a' * 12} -> app-images@sha256:{'b' * 12}" in out
    assert f"sidekiq: image app-images@sha256:{'a' * 12}" in out
