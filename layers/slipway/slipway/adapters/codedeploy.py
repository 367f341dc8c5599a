"""The AWS calls of the deploy step: CodeDeploy deployments, the ECR scan gate's counts, task tokens.

Throttling and temporary service errors become ``TransientError`` so the state machine's Retry (backoff with
jitter) handles them; every other AWS error keeps its own message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from slipway.errors import TransientError

if TYPE_CHECKING:
    from mypy_boto3_codedeploy import CodeDeployClient
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_stepfunctions import SFNClient

    from slipway.domain.release import ReleaseDeps

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
    }
)

# GetDeployment statuses that mean "not finished yet".
RUNNING_STATUSES = frozenset({"Created", "Queued", "InProgress", "Baking", "Ready"})


@contextmanager
def transient_errors(action: str) -> Iterator[None]:
    """Re-raise throttling as ``TransientError`` (retried by the state machine), naming what was attempted."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in TRANSIENT_CODES:
            raise TransientError(f"{action}: {code} (will retry)") from exc
        raise


@dataclass(frozen=True)
class DeploymentInfo:
    deployment_id: str
    status: str
    application: str | None = None
    deployment_group: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    rollback: dict[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.status in RUNNING_STATUSES


class CodeDeploy:
    def __init__(self, client: CodeDeployClient) -> None:
        self._client = client

    def create_deployment(
        self,
        *,
        application: str,
        deployment_group: str,
        appspec_content: str,
        appspec_sha256: str,
        deployment_config: str | None,
        description: str,
    ) -> str:
        kwargs: dict[str, Any] = {
            "applicationName": application,
            "deploymentGroupName": deployment_group,
            "revision": {
                "revisionType": "AppSpecContent",
                "appSpecContent": {"content": appspec_content, "sha256": appspec_sha256},
            },
            "description": description[:100],
        }
        if deployment_config:
            kwargs["deploymentConfigName"] = deployment_config
        with transient_errors(f"CreateDeployment {application}/{deployment_group}"):
            response = self._client.create_deployment(**kwargs)
        return response["deploymentId"]

    def get_deployment(self, deployment_id: str) -> DeploymentInfo:
        with transient_errors(f"GetDeployment {deployment_id}"):
            info = self._client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        error = info.get("errorInformation") or {}
        return DeploymentInfo(
            deployment_id=deployment_id,
            status=str(info.get("status", "Unknown")),
            application=info.get("applicationName"),
            deployment_group=info.get("deploymentGroupName"),
            error_code=error.get("code"),
            error_message=error.get("message"),
            rollback=dict(info.get("rollbackInfo") or {}),
        )


class EcrScans:
    """``DescribeImageScanFindings`` counts by severity for one digest."""

    def __init__(self, client: ECRClient) -> None:
        self._client = client

    def scan_counts(self, registry_id: str | None, repository: str, digest: str) -> tuple[str, dict[str, int]]:
        """(status, counts): status is COMPLETE, IN_PROGRESS, FAILED, ... or NOT_FOUND when nothing was scanned."""
        kwargs: dict[str, Any] = {"repositoryName": repository, "imageId": {"imageDigest": digest}}
        if registry_id:
            kwargs["registryId"] = registry_id
        try:
            with transient_errors(f"DescribeImageScanFindings {repository}@{digest}"):
                response = self._client.describe_image_scan_findings(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("ScanNotFoundException", "ImageNotFoundException"):
                return "NOT_FOUND", {}
            raise
        status = response.get("imageScanStatus", {}).get("status", "UNKNOWN")
        counts = response.get("imageScanFindings", {}).get("findingSeverityCounts", {})
        return str(status), {str(k): int(v) for k, v in counts.items()}


class TaskTokens:
    """Completes ``.waitForTaskToken`` tasks; a token that already timed out or finished is logged, not raised."""

    def __init__(self, client: SFNClient, log: Callable[[str], None]) -> None:
        self._client = client
        self._log = log

    def succeed(self, token: str, output: dict[str, Any]) -> bool:
        try:
            with transient_errors("SendTaskSuccess"):
                self._client.send_task_success(taskToken=token, output=json.dumps(output))
        except (self._client.exceptions.TaskTimedOut, self._client.exceptions.InvalidToken) as exc:
            self._log(f"task token no longer waiting ({type(exc).__name__}); the timeout check decides")
            return False
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        try:
            with transient_errors("SendTaskFailure"):
                self._client.send_task_failure(taskToken=token, error=error, cause=cause[:32768])
        except (self._client.exceptions.TaskTimedOut, self._client.exceptions.InvalidToken) as exc:
            self._log(f"task token no longer waiting ({type(exc).__name__}); the timeout check decides")
            return False
        return True


def release_deps() -> ReleaseDeps:
    """The release flow's dependencies from the function's runtime (settings, lazily created clients).

    Slack, the task definition registry and approval voiding come from the other parts of slipway
    (``slipway.adapters.slack``, ``slipway.adapters.ecs``, ``slipway.domain.approval``) and are imported on
    first use only.
    """
    from slipway.adapters.locks import StateStore
    from slipway.adapters.runtime import runtime
    from slipway.domain.image_facts import ImageInspector
    from slipway.domain.release import Notifier, ReleaseDeps
    from slipway.observability import logger

    rt = runtime()

    def notifier() -> Notifier:
        from slipway.adapters.slack import slack_client
        from slipway.domain.notify import ReleaseNotifier

        made: Notifier = ReleaseNotifier(lambda: slack_client(rt.settings), rt.audit)
        return made

    def registry() -> Any:
        from slipway.adapters.ecs import EcsRegistry

        return EcsRegistry(rt.aws.ecs)

    def void_approvals(release_id: str, reason: str) -> int:
        from slipway.domain.approval import void_approvals_for_release

        return int(void_approvals_for_release(rt, release_id=release_id, reason=reason))

    def images() -> ImageInspector:
        from slipway.adapters.ecr_images import EcrImages

        return EcrImages(rt.aws.ecr)

    def expire_approvals(release_id: str) -> int:
        from slipway.domain.approval import expire_approvals_for_release

        return int(expire_approvals_for_release(rt, release_id=release_id))

    return ReleaseDeps(
        config=rt.config,
        state=StateStore(rt.aws.dynamodb, rt.settings.state_table),
        audit=rt.audit,
        codedeploy=CodeDeploy(rt.aws.codedeploy),
        scans=EcrScans(rt.aws.ecr),
        tokens=TaskTokens(rt.aws.sfn, logger.info),
        source=rt.config_source,
        notifier_factory=notifier,
        registry_factory=registry,
        void_approvals=void_approvals,
        expire_approvals=expire_approvals,
        images_factory=images,
    )
