"""The local cloud's other accounts and regions: environments with a ``target`` (docs/accounts.md).

moto keeps resources per account (the account of an assumed role's credentials) and per region, so an environment
in account B / region 2 is seeded, deployed and read there. This module holds what AWS does and moto does not:

- ``Place``: one account and region, with clients acting there (for another account: credentials of its
  ``OrganizationAccountAccessRole``, the role AWS Organizations creates in member accounts, which the local cloud
  treats as that account's administrator);
- ``seed_target_account``: what ``target-account.yaml`` creates there: the deploy role (trusting the control plane's
  account, with the ``sts:ExternalId`` the config names) and the rule forwarding CodeDeploy's and ECS's deployment
  events to the control plane's default bus; plus the task roles and the CodeDeploy service role;
- ``patches``: ``sts:AssumeRole`` honours the role's trust policy (principal account and external id), as AWS does;
  ECR replication: a push to the control plane's registry appears after ``replication_delay`` seconds (None: never)
  in the same account's registry of every other region an environment pulls from; an event-bus target in another
  account or region receives the event as it was (its account and region kept), as EventBridge forwards it.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from unittest import mock

from slipway.models.events import CODEDEPLOY_STATE_CHANGE, ECS_DEPLOYMENT_STATE_CHANGE, ECS_HOOK_STATE_CHANGE
from slipway_dev.local.base import shared_session

if TYPE_CHECKING:
    from slipway_dev.local.cloud import LocalCloud

ORGANIZATION_ROLE = "OrganizationAccountAccessRole"
DEPLOYMENT_EVENTS = {
    "source": ["aws.codedeploy", "aws.ecs"],
    "detail-type": [CODEDEPLOY_STATE_CHANGE, ECS_DEPLOYMENT_STATE_CHANGE, ECS_HOOK_STATE_CHANGE],
}
FORWARDING_RULE = "slipway-forward-deployment-events"


@dataclass
class Place:
    """One account and region of the local cloud, with clients acting there."""

    account: str
    region: str
    session: Any
    endpoint: str
    vpc: str = ""
    subnets: list[str] = field(default_factory=list)
    security_group: str = ""
    _clients: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.account}/{self.region}"

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint, region_name=self.region)
        return self._clients[service]


def place_of(cloud: LocalCloud, target: Any) -> Place:
    """The place of an environment's ``target`` (None: the control plane's own account and region)."""
    account, region = (target.account_id, target.region) if target is not None else (cloud.account, cloud.region)
    key = f"{account}/{region}"
    if key not in cloud.places:
        session = shared_session()
        if account != cloud.account:
            import boto3

            credentials = cloud.client("sts").assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/{ORGANIZATION_ROLE}", RoleSessionName="slipway-local-seed"
            )["Credentials"]
            session = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=region,
            )
        cloud.places[key] = Place(account=account, region=region, session=session, endpoint=cloud.endpoint)
    place: Place = cloud.places[key]
    return place


def deploy_role_trust(control_plane_roles: list[str], external_id: str | None) -> dict[str, Any]:
    """The deploy role's trust policy, as target-account.yaml writes it (the local cloud checks the principal's
    account, not which of the control plane's roles calls)."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": control_plane_roles},
        "Action": "sts:AssumeRole",
    }
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def seed_target_account(cloud: LocalCloud, config: Any, place: Place) -> None:
    """What target-account.yaml (and the team) creates in ``place``: the deploy roles, task roles and CodeDeploy
    service role (once per account), and the forwarding rule (once per region)."""
    from slipway_dev.local.seed import CODEDEPLOY_SERVICE_ROLE
    from slipway_dev.stack_parameters import target_parameters

    if place.account == cloud.account:
        return
    parameters = target_parameters(config, cloud.config_dir, place.account)
    iam = place.client("iam")
    existing = {role["RoleName"] for role in iam.list_roles()["Roles"]}
    trusts: dict[str, dict[str, Any]] = {}
    for role_arn, external_id in parameters.deploy_roles.items():
        trusts[role_arn.rsplit("/", 1)[-1]] = deploy_role_trust(cloud.environment_function_roles, external_id)
    for name, service in [(CODEDEPLOY_SERVICE_ROLE, "codedeploy.amazonaws.com")] + [
        (arn.rsplit("/", 1)[-1], "ecs-tasks.amazonaws.com") for arn in parameters.task_role_arns
    ]:
        trusts.setdefault(
            name,
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
            },
        )
    for name, trust in trusts.items():
        if name not in existing:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    events = place.client("events")
    events.put_rule(Name=FORWARDING_RULE, EventPattern=json.dumps(DEPLOYMENT_EVENTS))
    events.put_targets(
        Rule=FORWARDING_RULE,
        Targets=[{"Id": "control-plane", "Arn": f"arn:aws:events:{cloud.region}:{cloud.account}:event-bus/default"}],
    )


def seed_pull_policies(cloud: LocalCloud, config: Any) -> None:
    """What the team sets up for cross-account pulls: each repository an environment in another account pulls from
    (the pushed one, and its replica in that environment's region) lets that account pull."""
    for pipeline in config.pipelines.values():
        accounts = {
            env.target.account_id: env.target.region
            for env in pipeline.environments
            if env.target is not None and env.target.account_id != cloud.account
        }
        if not accounts:
            continue
        policy = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TargetAccountsPull",
                        "Effect": "Allow",
                        "Principal": {"AWS": [f"arn:aws:iam::{account}:root" for account in sorted(accounts)]},
                        "Action": [
                            "ecr:BatchGetImage",
                            "ecr:GetDownloadUrlForLayer",
                            "ecr:BatchCheckLayerAvailability",
                        ],
                    }
                ],
            }
        )
        for region in sorted({cloud.region, *accounts.values()}):
            ecr = shared_session().client("ecr", endpoint_url=cloud.endpoint, region_name=region)
            if region != cloud.region:  # the replica (a repository creation template would give it the policy)
                with contextlib.suppress(ecr.exceptions.RepositoryAlreadyExistsException):
                    ecr.create_repository(repositoryName=pipeline.repository)
            ecr.set_repository_policy(repositoryName=pipeline.repository, policyText=policy)


def replica_regions(cloud: LocalCloud, config: Any) -> set[str]:
    """The regions other than the control plane's that environments pull from (where replication copies)."""
    return {
        env.target.region
        for pipeline in config.pipelines.values()
        for env in pipeline.environments
        if env.target is not None and env.target.region != cloud.region
    }


def _trust_refusal(role: Any, caller_account: str, external_id: str | None) -> str | None:
    """Why the role's trust policy refuses the caller (None: it admits it)."""
    try:
        policy = json.loads(role.assume_role_policy_document)
    except (TypeError, ValueError):
        return "its trust policy is not JSON"
    statements = policy.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        principals = (statement.get("Principal") or {}).get("AWS") or []
        principals = [principals] if isinstance(principals, str) else principals
        admits = any(
            p in (caller_account, f"arn:aws:iam::{caller_account}:root")
            or p.startswith(f"arn:aws:iam::{caller_account}:role/")
            for p in principals
        )
        if statement.get("Effect") != "Allow" or not admits:
            continue
        wanted = ((statement.get("Condition") or {}).get("StringEquals") or {}).get("sts:ExternalId")
        if wanted is None or wanted == external_id:
            return None
        return "its trust policy requires another sts:ExternalId"
    return f"its trust policy does not admit account {caller_account}"


def patches(cloud: LocalCloud) -> list[Any]:
    """AssumeRole's trust check, ECR replication and cross-account event forwarding (bound to ``cloud``)."""
    from moto.ecr.models import ECRBackend, ecr_backends
    from moto.iam.models import iam_backends
    from moto.sts.exceptions import STSClientError
    from moto.sts.models import STSBackend

    original_assume = STSBackend.assume_role
    original_put_image = ECRBackend.put_image

    def assume_role(
        backend: Any, region_name: str, role_session_name: str, role_arn: str, *args: Any, **kwargs: Any
    ) -> Any:
        account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
        if name != ORGANIZATION_ROLE:
            caller = f"arn:aws:sts::{backend.account_id}:assumed-role/local/{role_session_name}"
            denied = f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
            try:
                role = iam_backends[account]["aws"].get_role(name)
            except Exception:
                raise STSClientError("AccessDenied", f"{denied} (the role does not exist)") from None
            why = _trust_refusal(role, backend.account_id, kwargs.get("external_id"))
            if why is not None:
                raise STSClientError("AccessDenied", f"{denied} ({why})")
        return original_assume(backend, region_name, role_session_name, role_arn, *args, **kwargs)

    def put_image(
        backend: Any, repository_name: str, image_manifest: str, image_tag: str, *args: Any, **kwargs: Any
    ) -> Any:
        image = original_put_image(backend, repository_name, image_manifest, image_tag, *args, **kwargs)
        if backend.account_id == cloud.account and backend.region_name == cloud.region and cloud.replica_regions:
            regions = sorted(cloud.replica_regions)

            def replicate() -> None:
                if cloud.replication_delay is None:
                    return
                if cloud.replication_delay and cloud.stopping.wait(cloud.replication_delay):
                    return
                for region in regions:
                    replica = ecr_backends[backend.account_id][region]
                    if repository_name not in replica.repositories:
                        replica.create_repository(repository_name, None, {}, {}, "MUTABLE", [])
                    original_put_image(replica, repository_name, image_manifest, image_tag, *args, **kwargs)

            if cloud.replication_delay == 0:
                replicate()
            else:
                cloud.start_thread(replicate, f"ecr-replication-{repository_name}")
        return image

    return [
        mock.patch.object(STSBackend, "assume_role", assume_role),
        mock.patch.object(ECRBackend, "put_image", put_image),
    ]


def forward_to_bus(bus_arn: str, event: dict[str, Any]) -> None:
    """An event-bus target: the event reaches that bus's rules as it was (its account and region kept), as
    EventBridge forwards across accounts and regions (moto would re-stamp it with the receiving account)."""
    from moto.events.models import events_backends

    _, _, _, region, account, resource = bus_arn.split(":", 5)
    bus = events_backends[account][region].describe_event_bus(resource.split("/", 1)[1])
    for rule in list(bus.rules.values()):
        rule.send_to_targets(json.loads(json.dumps(event)))
