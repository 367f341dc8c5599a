"""`slipway retry` against moto: attempt n+1 of a finished, unsuccessful release, and every refusal in one line;
promotion reads the attempt's own staging result in DynamoDB."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support.release_flow import Env, make_release, prepare, succeed_environment
from tests.support.world import AUDIT_TABLE

from slipway.errors import PromotionRefused
from slipway.models.release import Release
from slipway_dev.cli import main

pytestmark = pytest.mark.integration


def machine(env: Env) -> str:
    arn: str = env.client("stepfunctions").create_state_machine(
        name="slipway-release-test",
        definition=json.dumps({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    return arn


def retry(release_id: str, state_machine: str, pipeline: str = "web-app") -> int:
    return main(["retry", pipeline, release_id, "--state-machine-arn", state_machine, "--audit-table", AUDIT_TABLE])


def started_inputs(env: Env, state_machine: str) -> list[dict[str, Any]]:
    sfn = env.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=state_machine)["executions"]
    return [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in executions]


def test_retry_starts_the_next_attempt_of_a_failed_release(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    arn = machine(env)
    audit = env.audit()
    first = make_release(1)
    audit.release_started(first, ["staging", "production"])
    audit.release_finished(first.release_id, "FAILED", "DeploymentFailed: staging health checks")

    assert retry(first.release_id, arn) == 0
    out = capsys.readouterr().out
    assert f"started attempt 2 of {first.release_id} (attempt 1 ended FAILED)" in out
    [started] = started_inputs(env, arn)
    second = Release.model_validate(started["release"])
    assert (second.release_id, second.attempt, second.retry_of) == (f"{first.release_id}-a2", 2, first.release_id)
    assert started["environments"] == ["staging", "production"]
    assert audit.release(first.release_id).retried_by == second.release_id  # type: ignore[union-attr]
    record = audit.release(second.release_id)
    assert record is not None and record.attempt == 2 and record.running

    # Asked again while attempt 2 runs, whichever attempt is named: refused, one line, nothing started.
    for named in (first.release_id, second.release_id):
        assert retry(named, arn) == 2
        err = capsys.readouterr().err
        assert f"{second.release_id} (attempt 2) is still running" in err
    assert len(started_inputs(env, arn)) == 1


@pytest.mark.parametrize(
    ("status", "source", "problem"),
    [
        ("RUNNING", "ecr", "is still running"),
        ("SUCCEEDED", "ecr", "ended SUCCEEDED: there is nothing to retry"),
        ("FAILED", "codepipeline", "retry the stage in CodePipeline"),
    ],
)
def test_retry_refuses_in_one_line(
    env: Env, capsys: pytest.CaptureFixture[str], status: str, source: str, problem: str
) -> None:
    arn = machine(env)
    audit = env.audit()
    release = make_release(2).model_copy(update={"source": source, "codepipeline_job_id": "job-1"})
    audit.release_started(release, ["staging", "production"])
    if status != "RUNNING":
        audit.release_finished(release.release_id, status)
    assert retry(release.release_id, arn) == 2
    err = capsys.readouterr().err
    assert problem in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert started_inputs(env, arn) == []
    assert retry("web-app-nope", arn) == 2
    assert "no release 'web-app-nope' in pipeline 'web-app'" in capsys.readouterr().err


def test_promotion_reads_the_attempts_own_staging_result(env: Env) -> None:
    audit = env.audit()
    first = make_release(3)
    audit.release_started(first, ["staging", "production"])
    succeed_environment(env, first, "staging")
    audit.release_finished(first.release_id, "FAILED", "production failed")
    second = first.model_copy(
        update={"release_id": f"{first.release_id}-a2", "attempt": 2, "retry_of": first.release_id}
    )
    audit.release_started(second, ["staging", "production"])
    with pytest.raises(PromotionRefused, match=f"in release {second.release_id} \\(staging: never deployed\\)"):
        prepare(env, second, "production")
    audit.environment_finished(second, "staging", "FAILED", cause="health checks")
    with pytest.raises(PromotionRefused, match="staging: FAILED"):
        prepare(env, second, "production")
