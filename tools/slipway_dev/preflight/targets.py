"""Preflight of an environment in another account or region (``target``, docs/accounts.md): the deploy role can
be assumed (then the environment's own checks run there, with its credentials), the replicated repository exists
in the environment's region, and the repository policy lets the target account pull. Read-only, like every check."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from slipway_dev.preflight import Account, Check, aws_refusal
from slipway_dev.preflight.task_roles import TaskRoles

PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def target_checks(account: Account, pipeline: Any, env: Any, roles: TaskRoles) -> list[Check]:
    from slipway_dev.preflight.services import environment_checks

    target = env.target
    checks = _image_checks(account, pipeline, target)
    what = f"deploy role {target.role_arn} can be assumed"
    extra = {"ExternalId": target.external_id} if target.external_id else {}
    try:
        credentials = account.client("sts").assume_role(
            RoleArn=target.role_arn, RoleSessionName="slipway-preflight", **extra
        )["Credentials"]
    except ClientError as exc:
        return [
            *checks,
            Check(
                what,
                fix=f"{aws_refusal(exc)}. The role's trust must admit the control plane's function roles (its stack's "
                "EnvironmentFunctionRoleArns; run preflight as one of them, or as an identity the trust also admits), "
                "with target.external_id as its sts:ExternalId (docs/accounts.md)",
            ),
        ]
    import boto3

    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=target.region,
    )
    there = Account(session, account.endpoint_url)
    return [*checks, Check(what), *environment_checks(there, pipeline, env, roles)]


def _image_checks(account: Account, pipeline: Any, target: Any) -> list[Check]:
    """The repository the environment pulls from: the replica in its region, readable by its account."""
    checks: list[Check] = []
    ecr = account.client("ecr")
    if target.region != account.region:
        ecr = account.session.client(
            "ecr", region_name=target.region, **({"endpoint_url": account.endpoint_url} if account.endpoint_url else {})
        )
        what = f"ECR repository {pipeline.repository} is replicated to {target.region}"
        try:
            ecr.describe_repositories(repositoryNames=[pipeline.repository])
            checks.append(Check(what))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "RepositoryNotFoundException":
                return [Check(what, fix=aws_refusal(exc))]
            return [
                Check(
                    what,
                    fix=f"add a replication rule for {pipeline.repository} to {target.region} in this registry's "
                    "replication configuration (a first push creates the replica)",
                )
            ]
    if target.account_id != account.account_id:
        what = f"ECR repository {pipeline.repository} lets account {target.account_id} pull"
        try:
            text = ecr.get_repository_policy(repositoryName=pipeline.repository)["policyText"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "RepositoryPolicyNotFoundException":
                return [*checks, Check(what, fix=aws_refusal(exc))]
            text = "{}"
        if _lets_pull(json.loads(text), target.account_id):
            checks.append(Check(what))
        else:
            checks.append(
                Check(
                    what,
                    fix=f"give the repository a policy allowing {', '.join(PULL_ACTIONS)} to "
                    f"arn:aws:iam::{target.account_id}:root (its tasks cannot pull the image otherwise)",
                )
            )
    return checks


def _lets_pull(policy: dict[str, Any], account_id: str) -> bool:
    statements = policy.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        principals = (statement.get("Principal") or {}).get("AWS") or []
        principals = [principals] if isinstance(principals, str) else principals
        actions = statement.get("Action") or []
        actions = [actions] if isinstance(actions, str) else actions
        admits = any(p in (account_id, f"arn:aws:iam::{account_id}:root") for p in principals)
        if admits and all(a in actions or "ecr:*" in actions for a in PULL_ACTIONS):
            return True
    return False
