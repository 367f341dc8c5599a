"""The pusher rule, as it now works: who pushed comes from CloudTrail's PutImage (recorded by the ECR push function),
``people.yaml`` maps principals to Slack users, a pusher may not approve, and an unknown pusher fails closed (one more
distinct approver, capped by the approver list)."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slipway.domain.approval.decide import Click, decide
from slipway.domain.config import LocalConfigSource, load_config
from slipway.domain.intake.ecr_push import on_ecr_event, parse_ecr_event
from slipway.domain.intake.ports import IntakeDeps
from slipway.errors import ConfigError
from slipway.models.config import People, SlipwayConfig
from slipway.models.records import ApprovalRecord
from slipway.models.release import Release, release_id_for
from tests.support.clock import Clock
from tests.support.fakes import FakeGate, InMemoryAudit, InMemoryPushers
from tests.support.paths import CONFIG, load_event
from tests.support.releases import production_approval

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
APPROVER_1, APPROVER_2, MEMBER = "U0APPROVER1", "U0APPROVER2", "U0MEMBER"
ALICE = "arn:aws:iam::123456789012:user/alice"
ALICE_SSO = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Developer_01/alice@example.com"
CI = "arn:aws:sts::123456789012:assumed-role/codepipeline-role/AWSCodeBuild-1234"
STRANGER = "arn:aws:sts::123456789012:assumed-role/deployer/bob"


# ---------------------------------------------------------------------------------------------- people.yaml
def test_people_map_exact_principals_session_names_and_automation_roles() -> None:
    people = load_config(LocalConfigSource(CONFIG)).people
    assert people.resolve(ALICE) == ("person", "U0PUSHER")
    assert people.resolve(ALICE_SSO) == ("person", "U0PUSHER")
    assert people.resolve(CI) == ("automation", "arn:aws:iam::123456789012:role/codepipeline-role")
    assert people.resolve(CI.replace("123456789012", "999999999999")) is None  # another account's role of that name
    assert people.resolve(STRANGER) is None


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"people": [{"slack_user": "U0A"}]}, "give aws_principals or role_sessions"),
        ({"people": [{"slack_user": "alice", "role_sessions": ["a"]}]}, "slack_user"),
        ({"people": [{"slack_user": "U0A", "aws_principals": ["alice"]}]}, "aws_principals"),
        (
            {"people": [{"slack_user": "U0A", "role_sessions": ["a"]}, {"slack_user": "U0B", "role_sessions": ["a"]}]},
            "session a is listed for both U0A and U0B",
        ),
        ({"automation": ["codebuild"]}, "automation"),
        ({"people": [], "admins": []}, "admins"),
    ],
)
def test_a_bad_people_file_names_the_file_the_entry_and_the_problem(
    tmp_path: Path, data: dict[str, Any], problem: str
) -> None:
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    (config / "people.yaml").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=problem) as caught:
        load_config(LocalConfigSource(config))
    assert "people.yaml" in str(caught.value)


def test_without_a_people_file_nobody_is_known(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(CONFIG, config)
    (config / "people.yaml").unlink()
    assert load_config(LocalConfigSource(config)).people == People()


# ---------------------------------------------------------------------------------------------- recording pushers
def intake(pushers: InMemoryPushers) -> IntakeDeps:
    config = load_config(LocalConfigSource(CONFIG))
    return IntakeDeps(config=lambda: config, starter=None, audit=InMemoryAudit(Clock(T0)), pushers=pushers)  # type: ignore[arg-type]


def test_cloudtrails_put_image_records_the_principal_for_the_image() -> None:
    pushers = InMemoryPushers()
    event = load_event("cloudtrail-ecr-putimage.json")
    result = on_ecr_event(parse_ecr_event(event), intake(pushers))
    digest = event["detail"]["responseElements"]["image"]["imageId"]["imageDigest"]
    principal = event["detail"]["userIdentity"]["arn"]
    assert result == {"pusher": {"repository": "app-images", "digest": digest, "principal": principal}}
    assert pushers.principals("app-images", digest) == [principal]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"errorCode": "ImageAlreadyExistsException", "responseElements": None}, "PutImage failed"),
        ({"requestParameters": {"repositoryName": "someone-elses"}}, "no pipeline uses repository"),
    ],
)
def test_a_failed_put_image_or_another_repository_records_nothing(change: dict[str, Any], reason: str) -> None:
    pushers = InMemoryPushers()
    event = load_event("cloudtrail-ecr-putimage.json")
    event["detail"].update(change)
    result = on_ecr_event(parse_ecr_event(event), intake(pushers))
    assert result["ignored"] is True and reason in result["reason"]
    assert pushers.recorded == {}


# ---------------------------------------------------------------------------------------------- approvals
def config_with(**policy: Any) -> SlipwayConfig:
    config = load_config(LocalConfigSource(CONFIG))
    pipeline = config.pipelines["web-app"]
    production = pipeline.environment("production")
    approval = type(production.approval).model_validate({**production.approval.model_dump(), **policy})
    environments = [
        production.model_copy(update={"approval": approval}) if e is production else e for e in pipeline.environments
    ]
    return config.model_copy(
        update={"pipelines": {"web-app": pipeline.model_copy(update={"environments": environments})}}
    )


def request(gate: FakeGate, principals: list[str]) -> ApprovalRecord:
    digest = "sha256:" + hashlib.sha256(b"pusher-rule").hexdigest()
    release = Release(
        release_id=release_id_for("web-app", digest),
        pipeline="web-app",
        registry="123456789012.dkr.ecr.eu-west-2.amazonaws.com",
        repository="app-images",
        digest=digest,
    )
    for principal in principals:
        gate.pushers.record("app-images", digest, principal)
    gate.audit.release_started(release, ["staging", "production"])
    return production_approval(gate, release)


def gate_for(config: SlipwayConfig) -> FakeGate:
    gate = FakeGate(config_fn=lambda: config, clock=Clock(T0))
    gate.slack.groups["S0OPS"] = [MEMBER]
    return gate


def click(gate: FakeGate, record: ApprovalRecord, user: str) -> str:
    return decide(gate, Click(record.approval_id, "slipway_approve", user, f"https://hooks.slack.com/actions/{user}"))


def posted(gate: FakeGate) -> str:
    return json.dumps(gate.slack.posts[-1][2])


def test_the_pusher_cloudtrail_names_may_not_approve_their_own_image() -> None:
    """With people.yaml mapping alice's SSO session to U0APPROVER1, her click is refused; before, pushed_by was never
    filled and the rule never bit."""
    config = config_with()
    people = People.model_validate({"people": [{"slack_user": APPROVER_1, "role_sessions": ["alice@example.com"]}]})
    config = config.model_copy(update={"people": people})
    gate = gate_for(config)
    record = request(gate, [ALICE_SSO])
    assert (record.pushers, record.required) == ([APPROVER_1], 1)
    assert f"<@{APPROVER_1}>" in posted(gate)
    assert click(gate, record, APPROVER_1) == "refused:pusher"
    assert "you pushed this image" in gate.slack.ephemeral()[-1]
    assert click(gate, record, APPROVER_2) == "approved"
    release = gate.audit.release(str(record.release_id))
    assert (release.pusher_principals, release.pushed_by_users) == ([ALICE_SSO], [APPROVER_1])


def test_an_image_pushed_by_automation_needs_only_the_configured_approvals() -> None:
    gate = gate_for(config_with())
    record = request(gate, [CI])
    assert (record.pushers, record.required) == ([], 1)
    assert "Pusher unknown" not in posted(gate)
    assert click(gate, record, APPROVER_1) == "approved"


@pytest.mark.parametrize(
    ("principals", "why"),
    [
        ([], "no CloudTrail PutImage record of this image reached slipway"),
        ([STRANGER], f"pushed by {STRANGER}, which people.yaml maps to no one"),
        ([CI, STRANGER], f"pushed by {STRANGER}, which people.yaml maps to no one"),
    ],
)
def test_an_unknown_pusher_fails_closed_with_one_more_distinct_approver(principals: list[str], why: str) -> None:
    gate = gate_for(config_with(approvers={"users": [APPROVER_1, APPROVER_2], "groups": ["S0OPS"]}))
    record = request(gate, principals)
    assert record.required == 2
    message = posted(gate)
    assert why in message and "one more distinct approver is required: 2 instead of 1" in message
    assert "2 of " in message  # the "Approvals needed" field
    assert click(gate, record, APPROVER_1) == "pending"
    assert gate.tasks.succeeded == []
    assert click(gate, record, MEMBER) == "approved"


def test_the_extra_approver_is_capped_by_the_approver_list() -> None:
    gate = gate_for(config_with(approvers={"users": [APPROVER_1, APPROVER_2]}, min_approvals=2))
    record = request(gate, [])
    assert record.required == 2
    assert "only 2 approver(s) are named, so all 2 must approve" in posted(gate)


def test_allow_pusher_leaves_the_count_alone_whoever_pushed() -> None:
    gate = gate_for(config_with(allow_pusher=True))
    record = request(gate, [STRANGER])
    assert record.required == 1 and "Pusher unknown" not in posted(gate)
