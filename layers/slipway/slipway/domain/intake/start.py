"""Starting one release: StartExecution first (the only call a duplicate costs), the audit record only after.

Exactly-once comes from Step Functions itself: the execution name is the release id, so a second StartExecution
for the same release fails with ExecutionAlreadyExists. Every way a release starts (ECR push, CodePipeline job,
``slipway rollback``, ``slipway retry``) goes through ``start_release``; a retry (attempt n+1, see
``slipway.domain.intake.retry``) is linked from the attempt it retries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from slipway.domain.intake.ports import ReleaseAudit, ReleaseStarter
from slipway.errors import JobInputError
from slipway.models.release import Release, ReleaseInput
from slipway.observability import DUPLICATE_RELEASE_IGNORED, RELEASES_STARTED, emit, logger, set_release_context

COMMIT_TAG = re.compile(r"[0-9a-f]{7,40}")
# Step Functions refuses execution input over 256 KiB; keep room for the rest of the release.
MAX_EXECUTION_INPUT_BYTES = 240 * 1024


def commit_from_tag(tag: str | None) -> str | None:
    """A 7-40 hex tag is a commit SHA (the seed tags ``:$GIT_COMMIT_SHA``); an all-digit tag is a build number."""
    if tag and COMMIT_TAG.fullmatch(tag) and not tag.isdigit():
        return tag
    return None


@dataclass(frozen=True)
class PipelineOutcome:
    pipeline: str | None
    status: Literal["started", "duplicate", "ignored"]
    release_id: str | None = None
    execution_arn: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def start_release(
    release: Release, environments: list[str], *, starter: ReleaseStarter, audit: ReleaseAudit
) -> PipelineOutcome:
    """StartExecution of ``release`` through ``environments``; the audit record for a real start only."""
    release_input = ReleaseInput(release=release, environments=environments)
    size = len(release_input.model_dump_json().encode("utf-8"))
    if size > MAX_EXECUTION_INPUT_BYTES:
        raise JobInputError(
            f"release {release.release_id}: the execution input would be {size} bytes (Step Functions allows 256 KiB); "
            "the taskdef/appspec files of the artifact are too large"
        )
    set_release_context(release.release_id, pipeline=release.pipeline)
    outcome = starter.start_release(release_input)
    log = {"release_id": release.release_id, "pipeline": release.pipeline, "execution_arn": outcome.execution_arn}
    if outcome.status == "duplicate":
        logger.info("duplicate release ignored: the execution already exists", extra=log)
        emit(DUPLICATE_RELEASE_IGNORED)
        return PipelineOutcome(release.pipeline, "duplicate", release.release_id, outcome.execution_arn)
    audit.release_started(release, environments)
    if release.retry_of:
        audit.set_release_fields(release.retry_of, retried_by=release.release_id)
    logger.info(
        "release started", extra={**log, "digest": release.digest, "tags": release.tags, "attempt": release.attempt}
    )
    emit(RELEASES_STARTED)
    return PipelineOutcome(release.pipeline, "started", release.release_id, outcome.execution_arn)
