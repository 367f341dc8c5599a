"""A release (one image digest through one pipeline) and the plan each environment makes for it.

``ReleaseInput`` is the Step Functions execution input; ``Plan`` is what PrepareEnvironment returns and the
later tasks of the same environment receive.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
# Tags slipway puts on every task definition revision it registers (a revision with this plan hash is reused).
TAG_RELEASE_ID = "slipway:release-id"
TAG_DIGEST = "slipway:digest"
TAG_PLAN_HASH = "slipway:plan-hash"
TAG_COMMIT = "slipway:commit"
EXECUTION_NAME_MAX = 80
MAX_ATTEMPTS = 99999  # "-a99999" keeps the longest release id (73 characters) within the 80 of an execution name


class Release(BaseModel):
    # defer_build (here and below): built when first used, not at import (cold starts; bench/README.md).
    model_config = ConfigDict(extra="forbid", defer_build=True)

    release_id: str = Field(
        description="Also the Step Functions execution name: pipeline + digest (+ -a<n> from attempt 2 on)."
    )
    pipeline: str
    registry: str = Field(description="123456789012.dkr.ecr.eu-west-2.amazonaws.com")
    repository: str
    digest: str = Field(pattern=DIGEST_PATTERN)
    tags: list[str] = Field(default_factory=list)
    commit: str | None = None
    pushed_at: datetime | None = None
    pushed_by: str | None = Field(default=None, description="Slack user id or IAM principal of the pusher.")
    source: Literal["ecr", "codepipeline", "rollback", "cli"] = "ecr"
    source_event_id: str | None = None
    codepipeline_job_id: str | None = None
    artifacts: dict[str, str] = Field(
        default_factory=dict,
        description="CodePipeline input artifact files (name -> text) used by rendering.",
    )
    rollback_task_definition_arn: str | None = None
    attempt: int = Field(
        default=1, ge=1, le=MAX_ATTEMPTS, description="1, or n+1 for a retry of attempt n (`slipway retry`)."
    )
    retry_of: str | None = Field(default=None, description="The release id of the attempt this one retries.")

    @property
    def image_uri(self) -> str:
        """The image pinned by digest: never a mutable tag."""
        return f"{self.registry}/{self.repository}@{self.digest}"


class ReleaseInput(BaseModel):
    """The execution input: the release and the environments it goes through, in order."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    release: Release
    environments: list[str] = Field(min_length=1)
    attempt_id: str | None = Field(
        default=None,
        description="Unique per StartExecution call, so a redelivered event is never an identical (idempotent) "
        "input: Step Functions then always answers a duplicate with ExecutionAlreadyExists.",
    )


def release_id_for(pipeline: str, digest: str) -> str:
    """Deterministic, so Step Functions itself refuses a second execution of the same (pipeline, digest).

    Execution names allow 80 characters of [A-Za-z0-9_-]; a 32-hex prefix of the digest (128 bits) keeps
    collisions out of reach while leaving room for a 40-character pipeline name.
    """
    if not re.fullmatch(DIGEST_PATTERN, digest):
        raise ValueError(f"not an image digest: {digest!r} (expected sha256: and 64 hex digits)")
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", pipeline)[:40]
    name = f"{safe}-{digest.removeprefix('sha256:')[:32]}"
    assert len(name) <= EXECUTION_NAME_MAX
    return name


def attempt_release_id(first_release_id: str, attempt: int) -> str:
    """The execution name of attempt ``attempt``: attempt 1 keeps the release id (so an automatic duplicate is still
    refused by Step Functions in one call), attempt n > 1 is ``<attempt 1's id>-a<n>``."""
    if not 1 <= attempt <= MAX_ATTEMPTS:
        raise ValueError(f"attempt must be between 1 and {MAX_ATTEMPTS}, got {attempt}")
    name = first_release_id if attempt == 1 else f"{first_release_id}-a{attempt}"
    if len(name) > EXECUTION_NAME_MAX:
        raise ValueError(f"release id {name!r} is longer than an execution name may be ({EXECUTION_NAME_MAX})")
    return name


def first_attempt_id(release: Release) -> str:
    """Attempt 1's release id, from any attempt's release."""
    return release.release_id.removesuffix(f"-a{release.attempt}") if release.attempt > 1 else release.release_id


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Plan(BaseModel):
    """What one environment will deploy: the result of rendering, validation and registration."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    release_id: str
    pipeline: str
    environment: str
    digest: str
    plan_hash: str
    task_definition_arn: str
    reused_revision: bool = False
    appspec_content: str = Field(default="", description="CodeDeploy only: the AppSpec with the revision filled in.")
    appspec_sha256: str = ""
    diff: list[str] = Field(default_factory=list, description="Human-readable lines, secret values never shown.")
    application: str = Field(default="", description="CodeDeploy only.")
    deployment_group: str = Field(default="", description="CodeDeploy only.")
    deployment_config: str | None = None
    approval_required: bool = Field(description="RequestApproval asks before deploying (approval.stage before_deploy).")
    approval_after_test_traffic: bool = Field(
        default=False, description="ECS: the deployment pauses at POST_TEST_TRAFFIC_SHIFT until approved."
    )
    test_url: str | None = None
    approval_timeout_seconds: int
    deployment_wait_seconds: int
    scan_findings: dict[str, int] | None = None
