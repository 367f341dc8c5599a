"""The slipway stack: does it exist, and do its parameters cover the config (``RepositoryNames``: every pipeline's
repository, or the EventBridge rule drops its pushes; ``TaskRoleArns``: every role a task definition names, or
ECS refuses the registration when slipway passes the role)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from slipway_dev.preflight import Check
from slipway_dev.preflight.task_roles import TaskRoles

READY = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE")


@dataclass(frozen=True)
class StackInfo:
    """What preflight needs of the stack: its status and parameters (CloudFormation's DescribeStacks)."""

    name: str
    status: str
    parameters: dict[str, str]
    outputs: dict[str, str]

    def _list(self, key: str) -> list[str]:
        return [item.strip() for item in self.parameters.get(key, "").split(",") if item.strip()]

    @property
    def repository_names(self) -> list[str]:
        return self._list("RepositoryNames")

    @property
    def task_role_arns(self) -> list[str]:
        return self._list("TaskRoleArns")

    @property
    def config_location(self) -> str:
        return self.parameters.get("ConfigLocation", "")

    @property
    def slack_secret_arn(self) -> str:
        return self.parameters.get("SlackSecretArn", "")

    @property
    def slack_api_url(self) -> str:
        return self.parameters.get("SlackApiUrl") or "https://slack.com/api/"


def read_stack(cloudformation: Any, name: str) -> StackInfo | None:
    """The stack, or None when there is no stack of that name (CloudFormation answers ValidationError)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError" and "does not exist" in str(exc):
            return None
        raise
    stack = stacks[0]
    return StackInfo(
        name=name,
        status=str(stack.get("StackStatus", "")),
        parameters={
            p["ParameterKey"]: str(p.get("ResolvedValue") or p.get("ParameterValue") or "")
            for p in stack.get("Parameters", [])
        },
        outputs={o["OutputKey"]: str(o.get("OutputValue", "")) for o in stack.get("Outputs", [])},
    )


def _redeploy(parameter: str, values: list[str]) -> str:
    return f"redeploy with {parameter}={','.join(values)} (sam deploy --parameter-overrides, or samconfig.toml)"


def stack_checks(stack: StackInfo | None, name: str, config: Any, roles: TaskRoles) -> list[Check]:
    """The stack exists and is ready; RepositoryNames and TaskRoleArns cover the config."""
    if stack is None:
        return [
            Check(
                f"stack {name} exists",
                fix="no such stack in this account and region: deploy it (`sam deploy --config-env ...`, "
                "docs/first-service.md) or pass --stack NAME",
            )
        ]
    checks = [
        Check(f"stack {name} exists ({stack.status})")
        if stack.status in READY
        else Check(f"stack {name} is ready", fix=f"its status is {stack.status}: finish or fix its deployment first")
    ]
    listened = stack.repository_names
    for repository in sorted({p.repository for p in config.pipelines.values()}):
        users = ", ".join(sorted(p.name for p in config.pipelines.values() if p.repository == repository))
        what = f"RepositoryNames include {repository} (pipeline {users})"
        if repository in listened:
            checks.append(Check(what))
        else:
            checks.append(
                Check(
                    what,
                    fix=f"the stack listens only to {', '.join(listened) or 'no repository'}, so pushes of "
                    f"{repository} are dropped by the EventBridge rule: "
                    + _redeploy("RepositoryNames", [*listened, repository]),
                )
            )
    allowed = stack.task_role_arns
    for arn, named_by in sorted(roles.arns.items()):
        what = f"TaskRoleArns include {arn} ({', '.join(named_by)})"
        if arn in allowed:
            checks.append(Check(what))
        else:
            checks.append(
                Check(
                    what,
                    fix="slipway may pass only TaskRoleArns to ECS, so registering this task definition would be "
                    "refused (iam:PassRole): " + _redeploy("TaskRoleArns", [*allowed, arn]),
                )
            )
    return checks
