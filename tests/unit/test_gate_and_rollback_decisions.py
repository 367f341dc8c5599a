"""The scan gate's and rollback's decisions on in-memory fakes: what an ECR scan result does to a release (wait,
refuse, ask for an approval, pass), which verified-good revision a rollback picks and how it is planned. No moto:
the ECR adapter's reading of DescribeImageScanFindings is tested in tests/integration/test_release_flow.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slipway.domain.config import LocalConfigSource, load_config
from slipway.domain.release.gates import scan_gate
from slipway.domain.release.prepare import prepare_environment
from slipway.domain.release.rollback import RollbackRefused, choose_target, rollback_release
from slipway.errors import PromotionRefused, RenderError, TransientError
from slipway.models.config import AppSpecSpec, Environment, ScanGate, SlipwayConfig
from slipway.models.payloads import PrepareEnvironmentInput
from slipway.models.records import AuditKind, EnvironmentResult, ScanResult
from slipway.models.release import Plan, Release, sha256_hex
from tests.support.clock import Clock
from tests.support.fakes import FakeReleaseDeps, FakeScans
from tests.support.paths import CONFIG
from tests.support.releases import REGISTRY, a_release

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TD = "arn:aws:ecs:eu-west-2:123456789012:task-definition/app-task:{}"


def release(n: int, *, minutes: int = 0, pipeline: str = "web-app") -> Release:
    repository = "api-images" if pipeline == "api" else "app-images"
    pushed_at = T0 + timedelta(minutes=minutes)
    return a_release(
        n, salt="gate-rollback", pushed_at=pushed_at, pipeline=pipeline, repository=repository, commit=f"{n:040x}"
    )


def with_environment(config: SlipwayConfig, environment: str, **update: Any) -> SlipwayConfig:
    """``config`` with web-app's ``environment`` changed (``scan_gate=...``, ``appspec=...``)."""
    pipeline = config.pipelines["web-app"]
    envs = [e.model_copy(update=update) if e.name == environment else e for e in pipeline.environments]
    changed = pipeline.model_copy(update={"environments": envs})
    return config.model_copy(update={"pipelines": {**config.pipelines, "web-app": changed}})


def deps_for(config: SlipwayConfig, scan: ScanResult | None = None) -> FakeReleaseDeps:
    scans = FakeScans(scan) if scan else FakeScans()
    return FakeReleaseDeps(config_fn=lambda: config, source=LocalConfigSource(CONFIG), clock=Clock(T0), scans=scans)


@pytest.fixture
def config() -> SlipwayConfig:
    return load_config(LocalConfigSource(CONFIG))


@pytest.fixture
def deps(config: SlipwayConfig) -> FakeReleaseDeps:
    return deps_for(config)


def prepare(deps: FakeReleaseDeps, rel: Release, environment: str) -> Plan:
    return prepare_environment(deps, PrepareEnvironmentInput(release=rel, environment=environment))


def gate_of(config: SlipwayConfig, scan: ScanResult, **gate: Any) -> tuple[FakeReleaseDeps, Environment]:
    """Deps whose ECR answers ``scan``, and web-app's staging behind ``ScanGate(**gate)``."""
    gated = with_environment(config, "staging", scan_gate=ScanGate(**gate))
    return deps_for(gated, scan), gated.pipelines["web-app"].environment("staging")


# ---------------------------------------------------------------------------------------------- the scan gate
def test_without_a_scan_gate_the_scan_is_not_read(deps: FakeReleaseDeps, config: SlipwayConfig) -> None:
    staging = config.pipelines["web-app"].environment("staging")
    assert scan_gate(deps, staging, release(1)) == (None, False)
    assert deps.scans.asked == []
    assert prepare(deps, release(1), "staging").scan_findings is None


@pytest.mark.parametrize("status", ["IN_PROGRESS", "PENDING"])
def test_a_scan_still_running_is_waited_for_before_the_lock(config: SlipwayConfig, status: str) -> None:
    deps, staging = gate_of(config, ScanResult(status))
    rel = release(1)
    with pytest.raises(TransientError, match=f"still {status}; staging waits for its result"):
        scan_gate(deps, staging, rel)
    assert deps.scans.asked == [("123456789012", "app-images", rel.digest)]  # the registry's account
    with pytest.raises(TransientError):
        prepare(deps, rel, "staging")
    assert deps.state.locks == {}


@pytest.mark.parametrize(
    ("scan", "why"),
    [
        *[
            (ScanResult(status), rf"no completed ECR scan for .* \(scan status {status}\)$")
            for status in ("FAILED", "NOT_FOUND", "UNSUPPORTED_IMAGE")
        ],
        (  # the worst first
            ScanResult("COMPLETE", {"LOW": 7, "HIGH": 2, "CRITICAL": 1, "MEDIUM": 0}),
            r"the ECR scan found findings at or above HIGH \(CRITICAL 1, HIGH 2\)$",
        ),
    ],
)
def test_a_gate_that_refuses_refuses_before_the_lock(config: SlipwayConfig, scan: ScanResult, why: str) -> None:
    deps, staging = gate_of(config, scan, threshold="HIGH", action="refuse")
    rel = release(1)
    with pytest.raises(PromotionRefused, match=rf"^staging refuses app-images@{rel.digest[7:19]}: {why}"):
        scan_gate(deps, staging, rel)
    with pytest.raises(PromotionRefused):
        prepare(deps, rel, "staging")
    assert deps.state.locks == {}


def test_no_completed_scan_asks_for_an_approval_when_the_gate_does(config: SlipwayConfig) -> None:
    deps, staging = gate_of(config, ScanResult("FAILED", {"HIGH": 1}), action="require_approval")
    assert scan_gate(deps, staging, release(1)) == ({"HIGH": 1}, True)
    plan = prepare(deps, release(1), "staging")  # staging needs no approval of its own
    assert (plan.approval_required, plan.scan_findings) == (True, {"HIGH": 1})
    assert deps.state.locks[("web-app", "staging")].phase == "awaiting_approval"


def test_findings_at_or_above_the_threshold_force_an_approval_with_the_counts(config: SlipwayConfig) -> None:
    counts = {"CRITICAL": 3, "MEDIUM": 1}
    deps, staging = gate_of(config, ScanResult("COMPLETE", counts), threshold="CRITICAL", action="require_approval")
    assert scan_gate(deps, staging, release(1)) == (counts, True)
    plan = prepare(deps, release(1), "staging")
    assert (plan.approval_required, plan.scan_findings) == (True, counts)


@pytest.mark.parametrize(
    ("threshold", "counts", "above"),
    [
        ("HIGH", {"MEDIUM": 5, "LOW": 9}, False),
        ("HIGH", {"CRITICAL": 0, "HIGH": 0, "MEDIUM": 2}, False),  # zero counts are no findings
        ("MEDIUM", {"MEDIUM": 1}, True),  # at the threshold counts
        ("LOW", {"INFORMATIONAL": 4, "UNDEFINED": 2}, False),  # below every threshold
        ("LOW", {"SOMETHING_NEW": 3}, False),  # a severity ECR adds later ranks lowest
        ("CRITICAL", {"HIGH": 10}, False),
    ],
)
def test_the_threshold_decides_what_counts(
    config: SlipwayConfig, threshold: str, counts: dict[str, int], above: bool
) -> None:
    for action in ("refuse", "require_approval"):
        deps, staging = gate_of(config, ScanResult("COMPLETE", counts), threshold=threshold, action=action)
        if above and action == "refuse":
            with pytest.raises(PromotionRefused, match=f"at or above {threshold}"):
                scan_gate(deps, staging, release(1))
        else:
            assert scan_gate(deps, staging, release(1)) == (counts, above)


def test_findings_below_the_threshold_pass_with_the_counts_in_the_plan(config: SlipwayConfig) -> None:
    counts = {"MEDIUM": 5, "LOW": 9}
    deps, _ = gate_of(config, ScanResult("COMPLETE", counts), threshold="HIGH", action="refuse")
    plan = prepare(deps, release(1), "staging")
    assert (plan.approval_required, plan.scan_findings) == (False, counts)
    assert deps.state.locks[("web-app", "staging")].phase == "ready_to_deploy"


# ---------------------------------------------------------------------------------------------- rollback target
def good(release_id: str, arn: str, digest: str = "sha256:" + "0" * 64) -> EnvironmentResult:
    return EnvironmentResult(release_id, "web-app", "staging", digest, "SUCCEEDED", "t", "hash", arn)


def test_the_target_is_the_newest_revision_other_than_the_running_one() -> None:
    records = [good("r-rollback", "td:3"), good("r3", "td:3"), good("r2", "td:2"), good("r1", "td:1")]
    assert choose_target(records, None, "staging").release_id == "r2"  # a rollback to td:3 succeeded too: skipped
    assert choose_target(records, "td:3", "staging").release_id == "r-rollback"  # explicit: as asked, newest
    assert choose_target(records, "td:1", "staging").release_id == "r1"


def test_no_target_is_refused_saying_what_exists() -> None:
    with pytest.raises(RollbackRefused, match="staging has no verified-good revision to roll back to"):
        choose_target([], None, "staging")
    with pytest.raises(RollbackRefused, match=r"the 2 newest verified-good record\(s\) are all td:3.*--revision ARN"):
        choose_target([good("r-rollback", "td:3"), good("r3", "td:3")], None, "staging")
    with pytest.raises(RollbackRefused, match=r"td:9 was never verified good in staging \(verified good: td:2, td:3\)"):
        choose_target([good("r3", "td:3"), good("r2", "td:2")], "td:9", "staging")


def test_the_rollback_release_redeploys_the_targets_image_and_revision(deps: FakeReleaseDeps) -> None:
    original = release(1)
    deps.audit.release_started(original, ["staging", "production"])
    target = good(original.release_id, TD.format(4), original.digest)
    now = T0 + timedelta(hours=2, seconds=5)
    rollback = rollback_release(target, deps.audit.release(original.release_id), now=now, requested_by="U0OPS")
    assert rollback.release_id == f"web-app-rb-{original.digest.removeprefix('sha256:')[:16]}-20300101140005"
    assert (rollback.source, rollback.pushed_by, rollback.pushed_at) == ("rollback", "U0OPS", now)
    assert (rollback.digest, rollback.rollback_task_definition_arn) == (original.digest, TD.format(4))
    assert (rollback.registry, rollback.repository, rollback.tags, rollback.commit) == (
        REGISTRY,
        "app-images",
        original.tags,
        original.commit,
    )
    with pytest.raises(RollbackRefused, match=r"audit record of release .* is missing"):
        rollback_release(target, None, now=now, requested_by=None)


# ---------------------------------------------------------------------------------------------- rollback plan
def verified_good(
    deps: FakeReleaseDeps, rel: Release, environment: str, arn: str, *, hashed: bool = True, appspec: str = ""
) -> None:
    """What a release that shipped ``arn`` to ``environment`` left in the audit trail: its PLAN (with the AppSpec
    it deployed, if any) and its SUCCEEDED result (with the plan hash ``hash-<release id>``, if ``hashed``)."""
    deps.audit.release_started(rel, ["staging", "production"])
    recorded = {"task_definition_arn": arn} | ({"appspec_content": appspec} if appspec else {})
    deps.audit.event(rel.release_id, AuditKind.PLAN, environment, **recorded)
    plan_hash = f"hash-{rel.release_id}" if hashed else None
    deps.audit.environment_finished(rel, environment, "SUCCEEDED", plan_hash=plan_hash, task_definition_arn=arn)


def rollback_to(deps: FakeReleaseDeps, environment: str, pipeline: str = "web-app") -> Release:
    """What `slipway rollback` starts: the target chosen from the verified-good records, its release."""
    target = choose_target(deps.audit.verified_good(pipeline, environment), None, environment)
    original = deps.audit.release(target.release_id)
    return rollback_release(target, original, now=T0 + timedelta(hours=1), requested_by="U0OPS")


def test_a_rollback_plans_the_verified_good_revision_without_rendering(deps: FakeReleaseDeps) -> None:
    old, running = release(1), release(2, minutes=5)
    verified_good(deps, old, "staging", TD.format(1), appspec='{"recorded":"appspec"}')
    verified_good(deps, running, "staging", TD.format(2), appspec='{"other":"appspec"}')
    rollback = rollback_to(deps, "staging")
    assert rollback.rollback_task_definition_arn == TD.format(1)

    plan = prepare(deps, rollback, "staging")
    assert (plan.task_definition_arn, plan.reused_revision, plan.digest) == (TD.format(1), True, old.digest)
    assert plan.plan_hash == f"hash-{old.release_id}"  # the verified-good release's own plan
    assert (plan.appspec_content, plan.appspec_sha256) == (
        '{"recorded":"appspec"}',
        sha256_hex('{"recorded":"appspec"}'),
    )
    assert plan.diff == [f"rollback to {TD.format(1)}, verified good in staging by release {old.release_id}"]
    assert (plan.application, plan.deployment_group) == ("codedeploy-app", "codedeploy-deployment-group-staging")
    assert deps.registry.registered == []  # nothing rendered, nothing registered
    assert deps.state.locks[("web-app", "staging")].holder == rollback.release_id


def test_a_rollback_to_production_needs_no_staging_success_but_its_approval(deps: FakeReleaseDeps) -> None:
    old, running = release(1), release(2, minutes=5)
    verified_good(deps, old, "production", TD.format(1), appspec="{}")
    verified_good(deps, running, "production", TD.format(2), appspec="{}")
    plan = prepare(deps, rollback_to(deps, "production"), "production")  # no staging result in this release
    assert (plan.task_definition_arn, plan.approval_required) == (TD.format(1), True)


def test_a_rollback_to_a_revision_never_verified_good_is_refused_before_the_lock(deps: FakeReleaseDeps) -> None:
    old = release(1)
    verified_good(deps, old, "staging", TD.format(1))
    forged = old.model_copy(update={"release_id": "web-app-rb-forged", "rollback_task_definition_arn": TD.format(9)})
    with pytest.raises(PromotionRefused, match=r"rollback refused: .*app-task:9 .* was never verified good in staging"):
        prepare(deps, forged, "staging")
    other_image = forged.model_copy(update={"rollback_task_definition_arn": TD.format(1), "digest": release(5).digest})
    with pytest.raises(PromotionRefused, match="never verified good"):  # the revision, but with another image
        prepare(deps, other_image, "staging")
    assert deps.state.locks == {}


def test_without_a_recorded_appspec_a_rollback_builds_one_or_says_why_it_cannot(config: SlipwayConfig) -> None:
    old, running = release(1), release(2, minutes=5)
    deps = deps_for(config)  # staging's AppSpec is a template (appspec.path): nothing to build one from
    verified_good(deps, old, "staging", TD.format(1))
    verified_good(deps, running, "staging", TD.format(2))
    with pytest.raises(
        RenderError,
        match=r"no recorded AppSpec for release .* and appspec\.container_name/container_port are not configured",
    ):
        prepare(deps, rollback_to(deps, "staging"), "staging")

    built = with_environment(config, "staging", appspec=AppSpecSpec(container_name="web", container_port=3000))
    deps = deps_for(built)
    verified_good(deps, old, "staging", TD.format(1), hashed=False)
    verified_good(deps, running, "staging", TD.format(2))
    plan = prepare(deps, rollback_to(deps, "staging"), "staging")
    target = json.loads(plan.appspec_content)["Resources"][0]["TargetService"]["Properties"]
    assert target["TaskDefinition"] == TD.format(1)
    assert target["LoadBalancerInfo"] == {"ContainerName": "web", "ContainerPort": 3000}
    assert plan.appspec_sha256 == sha256_hex(plan.appspec_content)
    assert plan.plan_hash == sha256_hex(TD.format(1))  # a verified-good record without a plan hash


def test_an_ecs_native_rollback_has_no_appspec(deps: FakeReleaseDeps) -> None:
    old, running = release(1, pipeline="api"), release(2, minutes=5, pipeline="api")
    verified_good(deps, old, "staging", TD.format(1))
    verified_good(deps, running, "staging", TD.format(2))
    plan = prepare(deps, rollback_to(deps, "staging", pipeline="api"), "staging")
    assert (plan.task_definition_arn, plan.appspec_content, plan.appspec_sha256) == (TD.format(1), "", "")
    assert (plan.application, plan.deployment_group) == ("", "")  # no CodeDeploy
