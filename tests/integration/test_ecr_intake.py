"""The ECR push handler against moto Step Functions: exactly one execution per (pipeline, digest)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from moto.stepfunctions.models import stepfunctions_backends
from tests.support.handlers import LambdaContext, load_handler
from tests.support.paths import load_event
from tests.support.world import ACCOUNT, REGION, MotoWorld

from slipway.errors import MalformedEvent
from slipway.models.release import release_id_for

pytestmark = pytest.mark.integration

handler = load_handler("ecr_push").lambda_handler
DIGEST = load_event("ecr-push.json")["detail"]["image-digest"]
SHA = load_event("ecr-push.json")["detail"]["image-tag"]
RELEASE_ID = release_id_for("web-app", DIGEST)


@pytest.fixture
def cloud(moto_world_factory: Callable[..., MotoWorld]) -> MotoWorld:
    """Executions are recorded, not run: the intake is what is under test."""
    world = moto_world_factory(run_executions=False)
    world.with_release_state_machine()
    return world


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = handler(event, LambdaContext())
    return result


def statuses(result: dict[str, Any]) -> list[str]:
    return [o["status"] for o in result["outcomes"]]


def age_execution(cloud: MotoWorld, seconds: int) -> None:
    """Pretend the execution started `seconds` ago (an EventBridge redelivery comes after a retry delay)."""
    backend = stepfunctions_backends[ACCOUNT][REGION]
    (execution,) = [e for sm in backend.state_machines for e in sm.executions]
    execution.start_date -= timedelta(seconds=seconds)


def test_two_tags_and_a_redelivery_start_exactly_one_execution(
    cloud: MotoWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    assert statuses(invoke(load_event("ecr-push.json"))) == ["started"]
    assert statuses(invoke(load_event("ecr-push-latest-tag.json"))) == ["ignored"]  # tag_filter: 40-hex only
    age_execution(cloud, 60)
    capsys.readouterr()
    assert statuses(invoke(load_event("ecr-push.json"))) == ["duplicate"]  # same name, same input: idempotent
    assert "DuplicateReleaseIgnored" in capsys.readouterr().out  # the EMF metric line

    (execution,) = cloud.executions()
    assert execution["name"] == RELEASE_ID and execution["status"] == "RUNNING"
    started = cloud.execution_input(execution["executionArn"])
    assert started["environments"] == ["staging", "production"]
    release = started["release"]
    assert (release["digest"], release["tags"], release["commit"]) == (DIGEST, [SHA], SHA)
    assert release["registry"] == "123456789012.dkr.ecr.eu-west-2.amazonaws.com"
    meta = cloud.wiring().audit.release(RELEASE_ID)
    assert meta is not None and meta.status == "RUNNING" and meta.release.digest == DIGEST


def test_a_duplicate_costs_exactly_one_aws_call(cloud: MotoWorld) -> None:
    invoke(load_event("ecr-push.json"))
    age_execution(cloud, 60)
    cloud.calls.clear()
    assert statuses(invoke(load_event("ecr-push.json"))) == ["duplicate"]
    assert dict(cloud.calls) == {"stepfunctions.StartExecution": 1}


def test_an_immediate_exact_redelivery_is_a_duplicate_too(cloud: MotoWorld) -> None:
    """Same event, same instant: without a per-call attempt id Step Functions would answer 200 (idempotent)."""
    assert statuses(invoke(load_event("ecr-push.json"))) == ["started"]
    cloud.calls.clear()
    assert statuses(invoke(load_event("ecr-push.json"))) == ["duplicate"]
    assert dict(cloud.calls) == {"stepfunctions.StartExecution": 1}
    assert len(cloud.executions()) == 1


def test_other_tag_of_the_same_digest_is_already_exists_and_costs_one_call(
    moto_world_factory: Callable[..., MotoWorld],
) -> None:
    cloud = moto_world_factory(run_executions=False, edit=lambda data: data.update(tag_filter=".*"))
    cloud.with_release_state_machine()
    assert statuses(invoke(load_event("ecr-push.json"))) == ["started"]
    cloud.calls.clear()
    assert statuses(invoke(load_event("ecr-push-latest-tag.json"))) == ["duplicate"]
    assert dict(cloud.calls) == {"stepfunctions.StartExecution": 1}
    assert len(cloud.executions()) == 1
    assert len(cloud.wiring().audit.releases("web-app")) == 1


def test_a_finished_release_is_not_started_again(cloud: MotoWorld) -> None:
    invoke(load_event("ecr-push.json"))
    sfn = cloud.client("stepfunctions")
    sfn.stop_execution(executionArn=cloud.executions()[0]["executionArn"])
    assert statuses(invoke(load_event("ecr-push.json"))) == ["duplicate"]
    assert len(cloud.executions()) == 1


def test_unknown_repository_and_non_matching_tag_start_nothing(cloud: MotoWorld) -> None:
    from slipway.wiring import wiring

    wiring().config()  # warm: the config is read once per minute, not per event
    cloud.calls.clear()
    result = invoke(load_event("ecr-push-unknown-repo.json"))
    assert result["outcomes"] == [{"status": "ignored", "reason": "no pipeline uses repository 'build-images'"}]
    assert statuses(invoke(load_event("ecr-push-latest-tag.json"))) == ["ignored"]
    assert cloud.executions() == []
    assert sum(cloud.calls.values()) == 1  # only the list_executions above


def _drop(path: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("ecr-push.json"))
    *parents, last = path.split(".")
    node = event
    for part in parents:
        node = node[part]
    del node[last]
    return event


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (_drop("detail.image-digest"), "missing field detail.image-digest"),
        (_drop("detail.repository-name"), "missing field detail.repository-name"),
        (_drop("detail.action-type"), "missing field detail.action-type"),
        (_drop("detail"), "missing field detail"),
        (_drop("account"), "missing field account"),
        ({**load_event("ecr-push.json"), "source": "aws.ecs"}, "source: Input should be 'aws.ecr'"),
        (json.loads(json.dumps(load_event("ecr-push.json")).replace("sha256:", "md5:")), "detail.image-digest"),
    ],
)
def test_each_malformed_event_raises_its_clear_error(cloud: MotoWorld, event: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedEvent, match=message):
        invoke(event)
    assert cloud.executions() == []


def test_release_input_is_what_the_state_machine_expects(cloud: MotoWorld) -> None:
    """The execution input validates as ReleaseInput and the state machine reads $.environments and $.release."""
    from slipway.models.release import ReleaseInput

    invoke(load_event("ecr-push.json"))
    data = cloud.execution_input(cloud.executions()[0]["executionArn"])
    parsed = ReleaseInput.model_validate(data)
    assert parsed.release.image_uri.endswith(f"/app-images@{DIGEST}")
    assert parsed.release.pushed_at is not None
