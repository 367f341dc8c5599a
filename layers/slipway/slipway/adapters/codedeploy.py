"""CodeDeploy ECS blue/green: one implementation of the release flow's ``Deployer`` (``slipway.domain.release.ports``).

A deployment is created from the plan's ``AppSpecContent``; CodeDeploy's state-change event (or one
GetDeployment after the wait timed out) says how it ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from slipway.adapters.aws import transient_errors
from slipway.adapters.state_store import StateStore
from slipway.errors import TokenNoLongerValid
from slipway.models.records import DeploymentHook, DeploymentInfo, PausedDeployment
from slipway.models.release import Plan

if TYPE_CHECKING:
    from mypy_boto3_codedeploy import CodeDeployClient

# GetDeployment statuses that mean "not finished yet".
RUNNING_STATUSES = frozenset({"Created", "Queued", "InProgress", "Baking", "Ready"})
DESCRIPTION_MAX = 100
BATCH_GET_MAX = 25  # BatchGetDeployments takes at most 25 ids


class CodeDeployDeployer:
    kind = "CodeDeploy"

    def __init__(self, client: CodeDeployClient) -> None:
        self._client = client

    def start(self, plan: Plan, *, description: str) -> str:
        kwargs: dict[str, Any] = {
            "applicationName": plan.application,
            "deploymentGroupName": plan.deployment_group,
            "revision": {
                "revisionType": "AppSpecContent",
                "appSpecContent": {"content": plan.appspec_content, "sha256": plan.appspec_sha256},
            },
            "description": description[:DESCRIPTION_MAX],
        }
        if plan.deployment_config:
            kwargs["deploymentConfigName"] = plan.deployment_config
        with transient_errors(f"CreateDeployment {plan.application}/{plan.deployment_group}"):
            response = self._client.create_deployment(**kwargs)
        return response["deploymentId"]

    def describe(self, deployment_id: str) -> DeploymentInfo:
        with transient_errors(f"GetDeployment {deployment_id}"):
            info = self._client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        error = info.get("errorInformation") or {}
        rollback = info.get("rollbackInfo") or {}
        status = str(info.get("status", "Unknown"))
        return DeploymentInfo(
            deployment_id=deployment_id,
            status=status,
            running=status in RUNNING_STATUSES,
            succeeded=status == "Succeeded",
            kind=self.kind,
            error_code=error.get("code"),
            error_message=error.get("message"),
            rollback_id=rollback.get("rollbackDeploymentId"),
            rollback_message=rollback.get("rollbackMessage"),
        )

    def find(self, plan: Plan, *, description: str) -> str | None:
        """The group's deployment whose description is ``description`` (release id and environment: unique), among
        the running ones first (a deployment group runs one at a time, and a retry comes seconds after a crash),
        then the first page of finished ones; None when there is none."""
        wanted = description[:DESCRIPTION_MAX]
        for statuses in (sorted(RUNNING_STATUSES), ["Succeeded", "Failed", "Stopped"]):
            with transient_errors(f"ListDeployments {plan.application}/{plan.deployment_group}"):
                ids = self._client.list_deployments(
                    applicationName=plan.application,
                    deploymentGroupName=plan.deployment_group,
                    includeOnlyStatuses=statuses,  # type: ignore[arg-type]
                ).get("deployments", [])
            for start in range(0, len(ids), BATCH_GET_MAX):
                with transient_errors("BatchGetDeployments"):
                    infos = self._client.batch_get_deployments(deploymentIds=ids[start : start + BATCH_GET_MAX])
                for info in infos.get("deploymentsInfo", []):
                    if info.get("description") == wanted and info.get("deploymentId"):
                        return str(info["deploymentId"])
        return None

    @staticmethod
    def target(plan: Plan) -> str:
        """What the approval message says about where the plan deploys."""
        config = f" ({plan.deployment_config})" if plan.deployment_config else ""
        return f"CodeDeploy `{plan.application}` / `{plan.deployment_group}`{config}"


READY_WAIT: Literal["READY_WAIT"] = "READY_WAIT"


class CodeDeployReadyWait:
    """An approval after test traffic on CodeDeploy: the deployment group's ready wait
    (``deploymentReadyOption.actionOnTimeout: STOP_DEPLOYMENT``) holds the deployment once the replacement task set
    serves test traffic; approve is ``ContinueDeployment(READY_WAIT)``, reject ``StopDeployment`` with rollback."""

    def __init__(self, client: CodeDeployClient, state: StateStore) -> None:
        self._client = client
        self._state = state

    def ready(self, deployment_id: str) -> PausedDeployment | None:
        """slipway's deployment ``deployment_id`` (its stored task record), while nothing has ended it."""
        token = self._state.deployment_token(deployment_id)
        if token is None or token.completed_status:
            return None
        return PausedDeployment(token, DeploymentHook(deployment_id, READY_WAIT, kind="codedeploy"))

    def decide(self, hook: DeploymentHook, approved: bool) -> None:
        try:
            if approved:
                with transient_errors(f"ContinueDeployment {hook.deployment_id}"):
                    self._client.continue_deployment(deploymentId=hook.deployment_id, deploymentWaitType=READY_WAIT)
            else:
                with transient_errors(f"StopDeployment {hook.deployment_id}"):
                    self._client.stop_deployment(deploymentId=hook.deployment_id, autoRollbackEnabled=True)
        except ClientError as exc:
            # It left the ready wait (timed out, stopped): nothing waits for this decision any more.
            if exc.response["Error"]["Code"] in (
                "DeploymentAlreadyCompletedException",
                "DeploymentIsNotInReadyStateException",
                "DeploymentDoesNotExistException",
                "UnsupportedActionForDeploymentTypeException",
            ):
                raise TokenNoLongerValid(f"{hook.deployment_id} is no longer in its ready wait") from exc
            raise
