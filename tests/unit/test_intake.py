"""Release intake with in-memory ports: which events start a release, which are ignored, which are refused."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

import pytest

from slipway.domain.config import LocalConfigSource, load_config
from slipway.domain.intake.codepipeline_job import (
    choose_pipeline,
    parse_image_uri,
    pipeline_from_parameters,
    read_artifact_zip,
    run_codepipeline_job,
)
from slipway.domain.intake.ecr_push import intake_ecr_push, parse_ecr_push
from slipway.domain.intake.ports import IntakeDeps, JobDeps
from slipway.domain.intake.start import commit_from_tag
from slipway.errors import JobInputError, MalformedEvent
from slipway.models.config import Pipeline, SlipwayConfig
from slipway.models.events import CodePipelineJob
from slipway.models.records import ExecutionState, ResolvedImage, StartOutcome
from slipway.models.release import Release, ReleaseInput, release_id_for
from slipway.observability import RELEASES_STARTED, metrics
from tests.support.paths import CONFIG, load_event

DIGEST = load_event("ecr-push.json")["detail"]["image-digest"]
SHA = load_event("ecr-push.json")["detail"]["image-tag"]


class FakeStepFunctions:
    """Step Functions' naming rule: one execution per name; same name and input while running is idempotent."""

    def __init__(self) -> None:
        self.executions: dict[str, tuple[str, str]] = {}  # name -> (input, status)
        self.calls = 0
        self.states: dict[str, ExecutionState] = {}

    def start_release(self, release_input: ReleaseInput) -> StartOutcome:
        self.calls += 1
        name = release_input.release.release_id
        arn = f"arn:aws:states:eu-west-2:123456789012:execution:slipway-release-dev:{name}"
        if name in self.executions:
            return StartOutcome("duplicate", arn)
        self.executions[name] = (release_input.model_dump_json(), "RUNNING")
        return StartOutcome("started", arn)

    def describe(self, execution_arn: str) -> ExecutionState:
        return self.states.get(execution_arn, ExecutionState("RUNNING"))


@dataclass
class FakeAudit:
    started: list[tuple[Release, list[str]]] = field(default_factory=list)

    def release_started(self, release: Release, environments: list[str]) -> None:
        self.started.append((release, environments))


@dataclass
class Pushers:
    recorded: list[tuple[str, str, str]] = field(default_factory=list)

    def record(self, repository: str, digest: str, principal: str) -> None:
        self.recorded.append((repository, digest, principal))


@pytest.fixture
def config() -> SlipwayConfig:
    return load_config(LocalConfigSource(CONFIG))


@pytest.fixture
def counted() -> Any:
    metrics.clear_metrics()
    yield lambda name: sum(metrics.metric_set.get(name, {}).get("Value", [0]))
    metrics.clear_metrics()


def with_filter(config: SlipwayConfig, tag_filter: str) -> SlipwayConfig:
    web = config.pipeline("web-app").model_copy(update={"tag_filter": tag_filter})
    return SlipwayConfig(pipelines={"web-app": web})


# ---------------------------------------------------------------------------------------------- ECR push
def test_commit_sha_tag_starts_a_release_pinned_by_digest(config: SlipwayConfig, counted: Any) -> None:
    sfn, audit = FakeStepFunctions(), FakeAudit()
    (outcome,) = intake_ecr_push(
        parse_ecr_push(load_event("ecr-push.json")), IntakeDeps(lambda: config, sfn, audit, Pushers())
    )

    assert outcome.status == "started"
    assert outcome.release_id == release_id_for("web-app", DIGEST)
    ((release, environments),) = audit.started
    assert environments == ["staging", "production"]
    assert release.image_uri == f"123456789012.dkr.ecr.eu-west-2.amazonaws.com/app-images@{DIGEST}"
    assert release.commit == SHA and release.tags == [SHA]
    assert release.pushed_at is not None and release.pushed_at.isoformat() == "2025-03-01T10:15:42+00:00"
    assert release.source == "ecr" and release.source_event_id == load_event("ecr-push.json")["id"]
    assert counted(RELEASES_STARTED) == 1


def test_latest_tag_of_the_same_digest_is_ignored_by_the_tag_filter(config: SlipwayConfig, counted: Any) -> None:
    sfn = FakeStepFunctions()
    (outcome,) = intake_ecr_push(
        parse_ecr_push(load_event("ecr-push-latest-tag.json")), IntakeDeps(lambda: config, sfn, FakeAudit(), Pushers())
    )
    assert outcome.status == "ignored" and "does not match tag_filter" in (outcome.reason or "")
    assert sfn.calls == 0
    assert counted("TagMismatchIgnored") == 1


def test_second_tag_of_a_digest_is_a_duplicate_not_a_second_release(config: SlipwayConfig, counted: Any) -> None:
    sfn, audit = FakeStepFunctions(), FakeAudit()
    loose = with_filter(config, ".*")
    results = [
        intake_ecr_push(parse_ecr_push(load_event(name)), IntakeDeps(lambda: loose, sfn, audit, Pushers()))[0].status
        for name in ("ecr-push.json", "ecr-push-latest-tag.json", "ecr-push.json")
    ]
    assert results == ["started", "duplicate", "duplicate"]
    assert len(sfn.executions) == 1 and len(audit.started) == 1
    assert counted("DuplicateReleaseIgnored") == 2


def test_unknown_repository_is_ignored_without_any_call(config: SlipwayConfig, counted: Any) -> None:
    sfn = FakeStepFunctions()
    (outcome,) = intake_ecr_push(
        parse_ecr_push(load_event("ecr-push-unknown-repo.json")),
        IntakeDeps(lambda: config, sfn, FakeAudit(), Pushers()),
    )
    assert outcome.status == "ignored" and "build-images" in (outcome.reason or "")
    assert sfn.calls == 0 and counted("UnknownRepositoryIgnored") == 1


class CountingPipelines(dict[str, Pipeline]):
    """A config's pipelines that count every walk over them (a scan by repository would be one per event)."""

    walks = 0

    def values(self) -> Any:
        CountingPipelines.walks += 1
        return super().values()

    def items(self) -> Any:
        CountingPipelines.walks += 1
        return super().items()

    def __iter__(self) -> Any:
        CountingPipelines.walks += 1
        return super().__iter__()


@pytest.mark.parametrize("size", [1, 500])
def test_a_push_looks_up_its_pipelines_whatever_the_number_of_pipelines(
    config: SlipwayConfig, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index by repository is built once per loaded config: a push then walks no pipeline list and checks the
    tag filter of its own pipelines only, with 1 pipeline or 500 (counted, not timed)."""
    web = config.pipeline("web-app")
    others = {
        f"svc-{n:03d}": web.model_copy(update={"name": f"svc-{n:03d}", "repository": f"svc-{n:03d}"})
        for n in range(size - 1)
    }
    large = SlipwayConfig(pipelines={**others, "web-app": web})
    object.__setattr__(large, "pipelines", CountingPipelines(large.pipelines))  # a frozen model
    checked: list[str] = []
    original = Pipeline.matches_tag
    monkeypatch.setattr(Pipeline, "matches_tag", lambda p, tag: checked.append(p.name) or original(p, tag))
    large.for_repository("app-images")  # the index: built once per loaded config, at its first look-up
    CountingPipelines.walks = 0
    sfn = FakeStepFunctions()
    outcomes = [
        intake_ecr_push(parse_ecr_push(load_event(name)), IntakeDeps(lambda: large, sfn, FakeAudit(), Pushers()))
        for name in ("ecr-push.json", "ecr-push-unknown-repo.json")
    ]
    assert [o.status for (o,) in outcomes] == ["started", "ignored"]
    assert CountingPipelines.walks == 0
    assert checked == ["web-app"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"action-type": "DELETE"}, "not a successful push (DELETE SUCCESS)"),
        ({"result": "FAILURE"}, "not a successful push (PUSH FAILURE)"),
        ({"image-tag": None}, "untagged push"),
    ],
)
def test_pushes_that_are_not_releases_are_ignored(config: SlipwayConfig, change: dict[str, Any], expected: str) -> None:
    event = load_event("ecr-push.json")
    event["detail"].update(change)
    if change.get("image-tag", "") is None:
        del event["detail"]["image-tag"]
    sfn = FakeStepFunctions()
    (outcome,) = intake_ecr_push(parse_ecr_push(event), IntakeDeps(lambda: config, sfn, FakeAudit(), Pushers()))
    assert (outcome.status, outcome.reason) == ("ignored", expected)
    assert sfn.calls == 0


def _without(path: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("ecr-push.json"))
    *parents, last = path.split(".")
    node = event
    for part in parents:
        node = node[part]
    del node[last]
    return event


@pytest.mark.parametrize(
    "path",
    [
        "detail.image-digest",
        "detail.repository-name",
        "detail.action-type",
        "detail.result",
        "detail",
        "id",
        "time",
        "account",
        "region",
        "source",
        "detail-type",
    ],
)
def test_malformed_event_names_the_missing_field(path: str, counted: Any) -> None:
    with pytest.raises(MalformedEvent, match=f"missing field {path}"):
        parse_ecr_push(_without(path))
    assert counted("MalformedEvent") == 1


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"detail": {**load_event("ecr-push.json")["detail"], "image-digest": "sha256:abc"}}, "detail.image-digest"),
        ({"source": "aws.s3"}, "source"),
        ({"detail-type": "ECR Image Scan"}, "detail-type"),
        ({"time": "yesterday"}, "time"),
    ],
)
def test_malformed_values_are_named(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(MalformedEvent, match=problem):
        parse_ecr_push({**load_event("ecr-push.json"), **change})


def test_an_event_that_is_not_an_object_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="expected a JSON object, got list"):
        parse_ecr_push([])


@pytest.mark.parametrize(
    ("tag", "commit"),
    [
        (SHA, SHA),
        ("bb3216c", "bb3216c"),
        ("latest", None),
        ("20250301", None),
        ("v1.2.3", None),
        (None, None),
        ("BB3216C31784C14A4550E0E09069CDFAC00D0165", None),
    ],
)
def test_commit_from_tag(tag: str | None, commit: str | None) -> None:
    assert commit_from_tag(tag) == commit


# ---------------------------------------------------------------------------------------------- CodePipeline pieces
def test_parse_image_uri_tag_and_digest() -> None:
    ref = parse_image_uri(f"123456789012.dkr.ecr.eu-west-2.amazonaws.com/app-images:{SHA}")
    assert (ref.account, ref.repository, ref.tag, ref.digest) == ("123456789012", "app-images", SHA, None)
    ref = parse_image_uri(f"123456789012.dkr.ecr.eu-west-2.amazonaws.com/team/app@{DIGEST}")
    assert (ref.repository, ref.tag, ref.digest) == ("team/app", None, DIGEST)
    for bad in ("nginx:latest", "123456789012.dkr.ecr.eu-west-2.amazonaws.com/app-images", "docker.io/x/y:1"):
        with pytest.raises(JobInputError, match="is not an ECR image reference"):
            parse_image_uri(bad)


@pytest.mark.parametrize(
    ("text", "name"),
    [(None, None), ("", None), ("web-app", "web-app"), ('{"pipeline": "web-app"}', "web-app"), ("{}", None)],
)
def test_user_parameters_may_name_the_pipeline(text: str | None, name: str | None) -> None:
    assert pipeline_from_parameters(text) == name


def test_user_parameters_errors() -> None:
    with pytest.raises(JobInputError, match="not valid JSON"):
        pipeline_from_parameters("{pipeline")
    with pytest.raises(JobInputError, match="must be a pipeline name"):
        pipeline_from_parameters('{"pipeline": 3}')


def test_choose_pipeline(config: SlipwayConfig) -> None:
    assert choose_pipeline(config, None, "app-images").name == "web-app"
    assert choose_pipeline(config, "web-app", "app-images").name == "web-app"
    with pytest.raises(JobInputError, match="unknown pipeline 'nope'"):
        choose_pipeline(config, "nope", "app-images")
    with pytest.raises(JobInputError, match="deploys repository 'app-images'"):
        choose_pipeline(config, "web-app", "other")
    with pytest.raises(JobInputError, match="no slipway pipeline uses repository 'other'"):
        choose_pipeline(config, None, "other")
    web = config.pipeline("web-app")
    twin: Pipeline = web.model_copy(update={"name": "web-app-2"})
    two = SlipwayConfig(pipelines={"web-app": web, "web-app-2": twin})
    with pytest.raises(JobInputError, match=r"several pipelines .*\(web-app, web-app-2\)"):
        choose_pipeline(two, None, "app-images")


def _zip(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_read_artifact_zip_keeps_image_detail_and_taskdef_appspec_files() -> None:
    data = _zip(
        {
            "imageDetail.json": "{}",
            "sub/taskdef-staging.json": "{}",
            "appspec-staging.yaml": "a: 1",
            "README.md": "no",
            "spec/": "",
        }
    )
    assert sorted(read_artifact_zip(data, "build_output")) == [
        "appspec-staging.yaml",
        "imageDetail.json",
        "taskdef-staging.json",
    ]
    with pytest.raises(JobInputError, match="'build_output' is not a zip file"):
        read_artifact_zip(b"not a zip", "build_output")
    with pytest.raises(JobInputError, match="is not UTF-8"):
        read_artifact_zip(_zip({"taskdef.json": b"\xff\xfe"}), "build_output")
    with pytest.raises(JobInputError, match="at most 65536 allowed"):
        read_artifact_zip(_zip({"taskdef.json": "x" * 70000}), "build_output")


# ---------------------------------------------------------------------------------------------- CodePipeline job
@dataclass
class FakeJobs:
    artifact: bytes = b""
    results: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def download_artifact(self, job: CodePipelineJob, index: int) -> bytes:
        return self.artifact

    def put_success(
        self, job_id: str, *, summary: str, continuation_token: str | None = None, external_id: str | None = None
    ) -> None:
        self.results.append(("success", {"job": job_id, "token": continuation_token, "summary": summary}))

    def put_failure(self, job_id: str, message: str, *, external_id: str | None = None) -> None:
        self.results.append(("failure", {"job": job_id, "message": message}))


class FakeImages:
    def resolve(self, registry_id: str, repository: str, tag: str | None, digest: str | None) -> ResolvedImage:
        return ResolvedImage(digest=DIGEST, tags=[tag or "", "latest"])


def _deps(config: SlipwayConfig, jobs: FakeJobs, sfn: FakeStepFunctions | None = None) -> JobDeps:
    return JobDeps(
        jobs=jobs, starter=sfn or FakeStepFunctions(), images=FakeImages(), audit=FakeAudit(), config=lambda: config
    )


def test_job_starts_a_release_then_follows_it(config: SlipwayConfig) -> None:
    uri = f"123456789012.dkr.ecr.eu-west-2.amazonaws.com/app-images:{SHA}"
    jobs = FakeJobs(_zip({"imageDetail.json": json.dumps({"ImageURI": uri}), "taskdef-staging.json": "{}"}))
    sfn = FakeStepFunctions()
    result = run_codepipeline_job(load_event("codepipeline-job.json"), _deps(config, jobs, sfn))
    assert result.result == "continuation" and result.release_id == release_id_for("web-app", DIGEST)
    ((stored_input, _),) = sfn.executions.values()
    release = json.loads(stored_input)["release"]
    assert release["artifacts"] == {"taskdef-staging.json": "{}"}
    assert release["tags"] == sorted([SHA, "latest"]) and release["commit"] == SHA
    assert jobs.results == [
        ("success", {"job": result.job_id, "token": result.execution_arn, "summary": result.message})
    ]

    follow = load_event("codepipeline-job-continuation.json")
    follow["CodePipeline.job"]["data"]["continuationToken"] = result.execution_arn
    assert run_codepipeline_job(follow, _deps(config, jobs, sfn)).result == "continuation"
    sfn.states[result.execution_arn or ""] = ExecutionState("SUCCEEDED", output={"environment_results": []})
    assert run_codepipeline_job(follow, _deps(config, jobs, sfn)).result == "success"
    sfn.states[result.execution_arn or ""] = ExecutionState(
        "SUCCEEDED", output={"finalized": {"outcome": {"status": "REJECTED", "cause": "Rejected by <@U1>"}}}
    )
    rejected = run_codepipeline_job(follow, _deps(config, jobs, sfn))
    assert rejected.result == "failure" and "ended REJECTED: Rejected by <@U1>" in rejected.message


def test_job_without_an_id_cannot_be_answered_and_raises(config: SlipwayConfig) -> None:
    jobs = FakeJobs()
    with pytest.raises(MalformedEvent, match=r"missing field CodePipeline\.job\.id"):
        run_codepipeline_job({"CodePipeline.job": {"data": {}}}, _deps(config, jobs))
    assert jobs.results == []


def test_bad_continuation_token_fails_the_job(config: SlipwayConfig) -> None:
    event = load_event("codepipeline-job-continuation.json")
    event["CodePipeline.job"]["data"]["continuationToken"] = "not-an-arn"
    jobs = FakeJobs()
    assert run_codepipeline_job(event, _deps(config, jobs)).result == "failure"
    assert "is not a slipway release execution ARN" in jobs.results[0][1]["message"]
