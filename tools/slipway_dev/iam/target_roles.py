"""The deploy roles ``target-account.yaml`` creates, as one account's stack would: the template resolved with the
parameters a config decides for that account (``slipway_dev.stack_parameters.target_parameters``), each role's
inline policies parsed for the IAM check. A call made with a deploy role's assumed-role credentials is judged
against that role, as the target account's IAM would judge it (docs/iam.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slipway_dev.iam.policy import Statement
from slipway_dev.iam.roles import Role
from slipway_dev.stack import stack_resolver
from slipway_dev.template import PROJECT_ROOT, load_template

TARGET_TEMPLATE = PROJECT_ROOT / "target-account.yaml"
# The functions that act on environments (template.yaml's EnvironmentFunctionRoleArns output): the deploy role
# trusts their roles only.
ENVIRONMENT_FUNCTIONS = (
    "PrepareEnvironmentFunction",
    "StartDeploymentFunction",
    "DeploymentEventsFunction",
    "FinalizeReleaseFunction",
)


def role_label(role_arn: str) -> str:
    """How the check names a deploy role in its verdicts (and in tests/iam/justified-grants.yaml)."""
    return f"target-account.yaml DeployRole ({role_arn})"


def target_roles(
    config: Any,
    config_dir: Path,
    *,
    control_plane_account: str,
    control_plane_region: str,
    control_plane_roles: list[str],
    path: Path = TARGET_TEMPLATE,
) -> dict[str, Role]:
    """Deploy role ARN -> its statements, for every target account of ``config``."""
    from slipway_dev.stack_parameters import target_account_ids, target_parameters

    template = load_template(path)
    roles: dict[str, Role] = {}
    for account in target_account_ids(config):
        parameters = target_parameters(config, config_dir, account)
        for role_arn, external_id in parameters.deploy_roles.items():
            resolver = stack_resolver(
                template,
                region=parameters.regions[0],
                account=account,
                prefix="slipway-target",
                parameters={
                    "ControlPlaneAccountId": control_plane_account,
                    "ControlPlaneRegion": control_plane_region,
                    "ControlPlaneRoleArns": control_plane_roles,
                    "ExternalId": external_id or "",
                    "DeployRoleName": role_arn.rsplit("/", 1)[-1],
                    "ServiceNames": parameters.services or [""],
                    "DeploymentGroupNames": parameters.deployment_groups or [""],
                    "TaskRoleArns": parameters.task_role_arns or [""],
                },
            )
            props = template["Resources"]["DeployRole"]["Properties"]
            label = role_label(role_arn)
            statements: list[Statement] = []
            for policy in props.get("Policies") or []:
                document = resolver.resolve(policy["PolicyDocument"])
                for index, raw in enumerate(document.get("Statement") or []):
                    statements.append(Statement.parse(raw, f"{label}/{policy['PolicyName']}/{raw.get('Sid') or index}"))
            roles[role_arn] = Role(label, tuple(statements))
    return roles
