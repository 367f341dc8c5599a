"""A CodePipeline Invoke action: start a release from imageDetail.json, then report it until it finishes.

Every job with an id ends in PutJobSuccessResult (with a continuation token while the release runs) or
PutJobFailureResult, whatever goes wrong.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from slipway.domain.intake.ports import JobDeps
from slipway.domain.intake.retry import RetryRefused, latest_attempt, next_attempt, retryable
from slipway.domain.intake.start import PipelineOutcome, commit_from_tag, start_release
from slipway.errors import JobInputError, MalformedEvent, SlipwayError
from slipway.models.events import CodePipelineJob, CodePipelineJobEvent
from slipway.models.parsing import parse_event
from slipway.models.release import DIGEST_PATTERN, Release, release_id_for
from slipway.observability import (
    CODEPIPELINE_JOB_CONTINUED,
    CODEPIPELINE_JOB_FAILED,
    CODEPIPELINE_JOB_SUCCEEDED,
    MALFORMED_EVENT,
    emit,
    logger,
    set_release_context,
)

if TYPE_CHECKING:  # annotations only: the config models are built when a config is first loaded, not at import
    from slipway.models.config import Pipeline, SlipwayConfig

IMAGE_DETAIL = "imageDetail.json"
# Files of the CodePipeline input artifact that rendering may use (the seed's taskdef-<env>.json, appspec-<env>.yaml).
ARTIFACT_FILE = re.compile(r"(?:taskdef|appspec)[\w.-]*\.(?:json|ya?ml)")
MAX_ARTIFACT_FILE_BYTES = 64 * 1024


# ---------------------------------------------------------------------------------------------- CodePipeline
IMAGE_URI = re.compile(
    r"(?P<registry>(?P<account>\d{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?)/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)


@dataclass(frozen=True)
class ImageReference:
    registry: str
    account: str
    repository: str
    tag: str | None
    digest: str | None


def parse_image_uri(uri: str) -> ImageReference:
    match = IMAGE_URI.fullmatch(uri.strip())
    if not match or not (match["tag"] or match["digest"]):
        raise JobInputError(
            f"{IMAGE_DETAIL}: ImageURI {uri!r} is not an ECR image reference "
            "(expected <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> or @sha256:<digest>)"
        )
    return ImageReference(match["registry"], match["account"], match["repository"], match["tag"], match["digest"])


def read_artifact_zip(data: bytes, artifact_name: str) -> dict[str, str]:
    """The files of an input artifact (a zip), by base name: imageDetail.json and the taskdef/appspec files."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise JobInputError(f"input artifact {artifact_name!r} is not a zip file") from None
    files: dict[str, str] = {}
    with archive:
        for info in archive.infolist():
            name = info.filename.rsplit("/", 1)[-1]
            if info.is_dir() or not (name == IMAGE_DETAIL or ARTIFACT_FILE.fullmatch(name)):
                continue
            if info.file_size > MAX_ARTIFACT_FILE_BYTES:
                raise JobInputError(
                    f"input artifact {artifact_name!r}: {info.filename} is {info.file_size} bytes "
                    f"(at most {MAX_ARTIFACT_FILE_BYTES} allowed)"
                )
            try:
                files[name] = archive.read(info).decode("utf-8")
            except UnicodeDecodeError:
                raise JobInputError(f"input artifact {artifact_name!r}: {info.filename} is not UTF-8 text") from None
    return files


def image_uri_from_detail(text: str) -> str:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobInputError(f"{IMAGE_DETAIL} is not valid JSON: {exc}") from None
    uri = data.get("ImageURI") if isinstance(data, dict) else None
    if not isinstance(uri, str) or not uri:
        raise JobInputError(f'{IMAGE_DETAIL} has no "ImageURI" (expected {{"ImageURI": "<repository uri>:<tag>"}})')
    return uri


def pipeline_from_parameters(user_parameters: str | None) -> str | None:
    """UserParameters: a pipeline name, or JSON ``{"pipeline": "<name>"}``; empty means match by repository."""
    text = (user_parameters or "").strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise JobInputError(f"UserParameters is not valid JSON: {exc}") from None
        name = data.get("pipeline") if isinstance(data, dict) else None
        if name is None:
            return None
        if not isinstance(name, str) or not name:
            raise JobInputError('UserParameters: "pipeline" must be a pipeline name')
        return name
    return text


def choose_pipeline(config: SlipwayConfig, named: str | None, repository: str) -> Pipeline:
    if named is not None:
        try:
            pipeline = config.pipeline(named)
        except KeyError as exc:
            raise JobInputError(f"UserParameters names {exc.args[0]}") from None
        if pipeline.repository != repository:
            raise JobInputError(
                f"pipeline {named!r} deploys repository {pipeline.repository!r}, but {IMAGE_DETAIL} names "
                f"{repository!r}"
            )
        return pipeline
    candidates = config.for_repository(repository)
    if not candidates:
        raise JobInputError(
            f"no slipway pipeline uses repository {repository!r}: add one to the config or name it in UserParameters"
        )
    if len(candidates) > 1:
        names = ", ".join(sorted(p.name for p in candidates))
        raise JobInputError(
            f"several pipelines use repository {repository!r} ({names}): name one in the action's UserParameters"
        )
    return candidates[0]


@dataclass(frozen=True)
class JobResult:
    job_id: str
    result: Literal["continuation", "success", "failure"]
    message: str
    release_id: str | None = None
    execution_arn: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _start_from_artifact(job: CodePipelineJob, deps: JobDeps) -> JobResult:
    if not job.data.input_artifacts:
        raise JobInputError("the action has no input artifact: give it the build output that holds imageDetail.json")
    files: dict[str, str] = {}
    for index, artifact in enumerate(job.data.input_artifacts):
        files.update(read_artifact_zip(deps.jobs.download_artifact(job, index), artifact.name))
    if IMAGE_DETAIL not in files:
        names = ", ".join(a.name for a in job.data.input_artifacts)
        raise JobInputError(
            f"no {IMAGE_DETAIL} in the input artifact(s) {names}: the build must write "
            f'{{"ImageURI": "<repository uri>:<tag>"}} to {IMAGE_DETAIL} and list it under artifacts.files'
        )
    image = parse_image_uri(image_uri_from_detail(files.pop(IMAGE_DETAIL)))
    pipeline = choose_pipeline(
        deps.config(),
        pipeline_from_parameters(job.data.action_configuration.configuration.user_parameters),
        image.repository,
    )
    resolved = deps.images.resolve(image.account, image.repository, image.tag, image.digest)
    if not re.fullmatch(DIGEST_PATTERN, resolved.digest):
        raise JobInputError(f"ECR returned {resolved.digest!r} for {image.repository}: not an image digest")
    tags = sorted(set(resolved.tags) | ({image.tag} if image.tag else set()))
    commit = commit_from_tag(image.tag) or next((c for c in map(commit_from_tag, tags) if c), None)
    release = Release(
        release_id=release_id_for(pipeline.name, resolved.digest),
        pipeline=pipeline.name,
        registry=image.registry,
        repository=image.repository,
        digest=resolved.digest,
        tags=tags,
        commit=commit,
        pushed_at=resolved.pushed_at,
        source="codepipeline",
        codepipeline_job_id=job.id,
        artifacts=files,
    )
    outcome = start_release(release, pipeline.environment_names(), starter=deps.starter, audit=deps.audit)
    verb = "started" if outcome.status == "started" else "already running or finished; following"
    if outcome.status == "duplicate":
        release, outcome, verb = _retry_or_follow(job, release, outcome, deps)
    summary = f"slipway release {release.release_id} {verb} ({release.image_uri})"
    assert outcome.execution_arn is not None
    deps.jobs.put_success(
        job.id, summary=summary, continuation_token=outcome.execution_arn, external_id=release.release_id
    )
    return JobResult(job.id, "continuation", summary, release.release_id, outcome.execution_arn)


def _retry_or_follow(
    job: CodePipelineJob, release: Release, duplicate: PipelineOutcome, deps: JobDeps
) -> tuple[Release, PipelineOutcome, str]:
    """The digest was released before. A new job id whose release's latest attempt ended without succeeding (the
    stage retried after a flaky health check, a fixed config or artifact) starts the next attempt with this job's
    artifact; otherwise the job follows the latest attempt."""
    record = deps.audit.release(release.release_id)
    if record is None:
        return release, duplicate, "already running or finished; following"
    try:
        latest = latest_attempt(deps.audit, record)
    except RetryRefused:
        return release, duplicate, "already running or finished; following"
    assert duplicate.execution_arn is not None
    arn = f"{duplicate.execution_arn.rsplit(':', 1)[0]}:{latest.release_id}"
    if not retryable(latest) or latest.release.codepipeline_job_id == job.id:
        following = PipelineOutcome(release.pipeline, "duplicate", latest.release_id, arn)
        return latest.release, following, "already running or finished; following"
    attempt = next_attempt(latest).model_copy(
        update={"codepipeline_job_id": job.id, "artifacts": release.artifacts, "tags": release.tags}
    )
    outcome = start_release(attempt, latest.environments, starter=deps.starter, audit=deps.audit)
    if outcome.status == "duplicate":  # another job started this attempt first: follow it
        return attempt, outcome, "already running or finished; following"
    return attempt, outcome, f"started as attempt {attempt.attempt} (attempt {latest.attempt} ended {latest.status})"


def _release_id_of(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


def _follow(job: CodePipelineJob, token: str, deps: JobDeps) -> JobResult:
    if not re.fullmatch(r"arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[A-Za-z0-9_-]{1,80}", token):
        raise JobInputError(f"continuation token {token[:200]!r} is not a slipway release execution ARN")
    release_id = _release_id_of(token)
    set_release_context(release_id)
    state = deps.starter.describe(token)
    if state.status in ("RUNNING", "PENDING_REDRIVE"):
        summary = f"slipway release {release_id} is still running"
        deps.jobs.put_success(job.id, summary=summary, continuation_token=token, external_id=release_id)
        return JobResult(job.id, "continuation", summary, release_id, token)
    if state.status == "SUCCEEDED":
        outcome = ((state.output or {}).get("finalized") or {}).get("outcome") or {}
        stopped = outcome.get("status")
        if stopped:
            cause = outcome.get("cause") or "no cause recorded"
            message = f"slipway release {release_id} ended {stopped}: {cause}"
            deps.jobs.put_failure(job.id, message, external_id=release_id)
            return JobResult(job.id, "failure", message, release_id, token)
        summary = f"slipway release {release_id} deployed every environment"
        deps.jobs.put_success(job.id, summary=summary, external_id=release_id)
        return JobResult(job.id, "success", summary, release_id, token)
    reason = ": ".join(p for p in (state.error, state.cause) if p) or "no reason recorded"
    pipeline = release_id.rsplit("-", 1)[0]  # release ids are <pipeline>-<32 hex of the digest>
    see = f"`slipway history {pipeline} --release {release_id}`"
    message = f"slipway release {release_id} {state.status}: {reason}. See {see}."
    deps.jobs.put_failure(job.id, message, external_id=release_id)
    return JobResult(job.id, "failure", message, release_id, token)


JOB_METRICS = {
    "continuation": CODEPIPELINE_JOB_CONTINUED,
    "success": CODEPIPELINE_JOB_SUCCEEDED,
    "failure": CODEPIPELINE_JOB_FAILED,
}


def _job_id_of(event: Any) -> str | None:
    job = event.get("CodePipeline.job") if isinstance(event, Mapping) else None
    job_id = job.get("id") if isinstance(job, Mapping) else None
    return job_id if isinstance(job_id, str) and job_id else None


def run_codepipeline_job(event: Any, deps: JobDeps) -> JobResult:
    """Every job with an id ends in PutJobSuccessResult or PutJobFailureResult, whatever goes wrong."""
    job_id = _job_id_of(event)
    if job_id is None:
        logger.error("CodePipeline job event without CodePipeline.job.id: nothing to report a result to")
        emit(MALFORMED_EVENT)
        raise MalformedEvent("CodePipeline job event: missing field CodePipeline.job.id")
    try:
        job = parse_event(CodePipelineJobEvent, event, "CodePipeline job event").job
        token = job.data.continuation_token
        result = _follow(job, token, deps) if token else _start_from_artifact(job, deps)
        emit(JOB_METRICS[result.result])
        return result
    except SlipwayError as exc:
        message = str(exc)
        if isinstance(exc, MalformedEvent):
            emit(MALFORMED_EVENT)
    except Exception as exc:  # every job must get a result; the traceback goes to the log
        logger.exception("CodePipeline job failed unexpectedly", extra={"job_id": job_id})
        message = f"slipway could not process this job ({type(exc).__name__}: {exc}); see the function's logs"
    logger.warning("CodePipeline job failed", extra={"job_id": job_id, "reason": message})
    emit(JOB_METRICS["failure"])
    deps.jobs.put_failure(job_id, message)
    return JobResult(job_id, "failure", message)
