"""What the intake needs from AWS, as Protocols (the adapters in ``slipway.adapters`` implement them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # annotations only: the config models are built when a config is first loaded, not at import
    from slipway.models.config import SlipwayConfig
    from slipway.models.events import CodePipelineJob
    from slipway.models.records import ExecutionState, ReleaseRecord, ResolvedImage, StartOutcome
    from slipway.models.release import Release, ReleaseInput


class ReleaseStarter(Protocol):
    """Step Functions: one execution per release, named by its release id."""

    def start_release(self, release_input: ReleaseInput) -> StartOutcome: ...

    def describe(self, execution_arn: str) -> ExecutionState: ...


class ReleaseAudit(Protocol):
    """The audit trail's release record."""

    def release_started(self, release: Release, environments: list[str]) -> None: ...

    def release(self, release_id: str) -> ReleaseRecord | None: ...

    def set_release_fields(self, release_id: str, **fields: Any) -> None: ...


class PusherLog(Protocol):
    """Who put each image (CloudTrail ``PutImage``), kept for the approval gate's pusher rule."""

    def record(self, repository: str, digest: str, principal: str) -> None: ...


class ImageResolver(Protocol):
    """ECR: a tag (or digest) of a repository -> its digest and tags."""

    def resolve(self, registry_id: str, repository: str, tag: str | None, digest: str | None) -> ResolvedImage: ...


class JobClient(Protocol):
    """CodePipeline's job API: the input artifact and the job's result."""

    def download_artifact(self, job: CodePipelineJob, index: int) -> bytes: ...

    def put_success(
        self, job_id: str, *, summary: str, continuation_token: str | None = None, external_id: str | None = None
    ) -> None: ...

    def put_failure(self, job_id: str, message: str, *, external_id: str | None = None) -> None: ...


@dataclass
class IntakeDeps:
    """What an ECR push needs (built by ``slipway.wiring``)."""

    config: Callable[[], SlipwayConfig]
    starter: ReleaseStarter
    audit: ReleaseAudit
    pushers: PusherLog


@dataclass
class JobDeps:
    """What a CodePipeline job needs (built by ``slipway.wiring``)."""

    config: Callable[[], SlipwayConfig]
    starter: ReleaseStarter
    audit: ReleaseAudit
    jobs: JobClient
    images: ImageResolver
