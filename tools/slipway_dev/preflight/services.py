"""One environment's AWS resources: the ECS cluster and service (deployment controller CODE_DEPLOY, or ECS for
``deployment.type: ecs``), the CodeDeploy application and blue/green deployment group (targeting that service, its
two target groups and the production listener), the IAM roles, and the pipeline's ECR repository (scan on push when
a scan gate needs it)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from slipway_dev.preflight import Account, Check
from slipway_dev.preflight.task_roles import TaskRoles


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def repository_checks(account: Account, pipeline: Any, envs: list[Any]) -> list[Check]:
    what = f"ECR repository {pipeline.repository} exists"
    try:
        found = account.client("ecr").describe_repositories(repositoryNames=[pipeline.repository])["repositories"]
    except ClientError as exc:
        if _code(exc) != "RepositoryNotFoundException":
            raise
        return [Check(what, fix=f"create it (aws ecr create-repository --repository-name {pipeline.repository})")]
    checks = [Check(what)]
    gated = [env.name for env in envs if env.scan_gate is not None]
    if gated:
        scan = (found[0].get("imageScanningConfiguration") or {}).get("scanOnPush", False)
        what = f"{pipeline.repository} scans on push (scan gate of {', '.join(gated)})"
        checks.append(
            Check(what)
            if scan
            else Check(
                what,
                fix="the scan gate would wait for a scan that never starts: aws ecr put-image-scanning-configuration "
                f"--repository-name {pipeline.repository} --image-scanning-configuration scanOnPush=true",
            )
        )
    return checks


def environment_checks(account: Account, pipeline: Any, env: Any, roles: TaskRoles) -> list[Check]:
    checks, service = _ecs_checks(account, env)
    group: dict[str, Any] | None = None
    if env.deployment.type == "codedeploy":
        group, group_checks = _codedeploy_checks(account, env, service)
        checks += group_checks
    name = f"{pipeline.name}/{env.name}"
    named = [(arn, f"named by the task definition of {name}") for arn in roles.by_env.get(name, [])]
    if group is not None and group.get("serviceRoleArn"):
        why = f"the service role of deployment group {group['deploymentGroupName']}"
        named.append((str(group["serviceRoleArn"]), why))
    if name in roles.unknown:
        checks.append(Check(f"task roles of {name}", skipped=roles.unknown[name]))
    checks += [_role_check(account, arn, why) for arn, why in named]
    return checks


def _ecs_checks(account: Account, env: Any) -> tuple[list[Check], dict[str, Any] | None]:
    ecs = account.client("ecs")
    clusters = ecs.describe_clusters(clusters=[env.cluster]).get("clusters", [])
    what = f"ECS cluster {env.cluster} exists"
    if not [c for c in clusters if c.get("status") == "ACTIVE"]:
        return [Check(what, fix=f"create it, or fix environments[].cluster of {env.name} in the config")], None
    checks = [Check(what)]
    services = ecs.describe_services(cluster=env.cluster, services=[env.service]).get("services", [])
    service = next((s for s in services if s.get("status") == "ACTIVE"), None)
    what = f"ECS service {env.cluster}/{env.service} exists"
    if service is None:
        return [*checks, Check(what, fix=f"create it (docs/first-service.md), or fix service of {env.name}")], None
    checks.append(Check(what))
    controller = (service.get("deploymentController") or {}).get("type", "ECS")
    if env.deployment.type == "ecs":
        what = f"{env.service} uses the ECS deployment controller (config: deployment.type ecs)"
        fix = (
            f"it uses {controller}: deployment.type ecs deploys with UpdateService; keep deployment.type codedeploy "
            "for this service, or move it to the ECS controller (docs/deployers.md, migrating)"
        )
        checks.append(Check(what) if controller == "ECS" else Check(what, fix=fix))
        return checks, service
    what = f"{env.service} uses the CODE_DEPLOY deployment controller (config: deployment.type codedeploy)"
    if controller == "CODE_DEPLOY":
        checks.append(Check(what))
    else:
        checks.append(
            Check(
                what,
                fix=f"it uses {controller}: slipway deploys through CodeDeploy blue/green; switch it to CODE_DEPLOY "
                "(aws ecs update-service --deployment-controller type=CODE_DEPLOY, behind the blue target group) "
                "or create it again (docs/first-service.md)",
            )
        )
    return checks, service


def _codedeploy_checks(
    account: Account, env: Any, service: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, list[Check]]:
    codedeploy = account.client("codedeploy")
    application, group_name = env.deployment.application, env.deployment.deployment_group
    what = f"CodeDeploy application {application} (ECS) exists"
    try:
        platform = codedeploy.get_application(applicationName=application)["application"].get("computePlatform")
    except ClientError as exc:
        if _code(exc) != "ApplicationDoesNotExistException":
            raise
        return None, [Check(what, fix="create it: aws deploy create-application --compute-platform ECS "
                            f"--application-name {application}")]  # fmt: skip
    if platform != "ECS":
        return None, [Check(what, fix=f"its compute platform is {platform}: an ECS application is needed")]
    checks = [Check(what)]
    what = f"deployment group {group_name} exists"
    try:
        group = codedeploy.get_deployment_group(applicationName=application, deploymentGroupName=group_name)[
            "deploymentGroupInfo"
        ]
    except ClientError as exc:
        if _code(exc) != "DeploymentGroupDoesNotExistException":
            raise
        return None, [*checks, Check(what, fix=f"create it in {application} (docs/first-service.md)")]
    checks.append(Check(what))
    targets = [(s.get("clusterName"), s.get("serviceName")) for s in group.get("ecsServices") or []]
    what = f"{group_name} deploys {env.cluster}/{env.service}"
    if (env.cluster, env.service) in targets:
        checks.append(Check(what))
    else:
        shown = ", ".join(f"{c}/{s}" for c, s in targets) or "no service"
        checks.append(Check(what, fix=f"it deploys {shown}: fix the deployment group or the config"))
    checks += _load_balancer_checks(account, group, service)
    if env.approval.required and env.approval.stage == "after_test_traffic":
        checks.append(_ready_wait_check(group, env))
    return group, checks


def _ready_wait_check(group: dict[str, Any], env: Any) -> Check:
    """An approval after test traffic needs the group to hold the deployment Ready (docs/deployers.md)."""
    option = (group.get("blueGreenDeploymentConfiguration") or {}).get("deploymentReadyOption") or {}
    wait = int(option.get("waitTimeInMinutes") or 0)
    name = group["deploymentGroupName"]
    what = f"{name} holds a deployment Ready for the approval after test traffic"
    if option.get("actionOnTimeout") == "STOP_DEPLOYMENT" and wait >= env.approval.timeout_minutes:
        return Check(what)
    return Check(
        what,
        fix=f"set its blueGreenDeploymentConfiguration.deploymentReadyOption to actionOnTimeout STOP_DEPLOYMENT "
        f"with waitTimeInMinutes >= {env.approval.timeout_minutes} (the approval's timeout_minutes); it is {option}",
    )


def _load_balancer_checks(account: Account, group: dict[str, Any], service: dict[str, Any] | None) -> list[Check]:
    elbv2 = account.client("elbv2")
    name = group["deploymentGroupName"]
    pairs = (group.get("loadBalancerInfo") or {}).get("targetGroupPairInfoList") or []
    style = group.get("deploymentStyle") or {}
    what = f"{name} is blue/green with two target groups"
    names = [str(t.get("name")) for t in (pairs[0].get("targetGroups") or [])] if pairs else []
    if style.get("deploymentType") != "BLUE_GREEN" or len(names) != 2:
        return [Check(what, fix="an ECS deployment group needs BLUE_GREEN with traffic control and a target group "
                      "pair (blue, green) plus the production listener (docs/first-service.md)")]  # fmt: skip
    checks = [Check(what)]
    try:
        arns = [t["TargetGroupArn"] for t in elbv2.describe_target_groups(Names=names)["TargetGroups"]]
        checks.append(Check(f"target groups {', '.join(names)} exist"))
    except ClientError as exc:
        if _code(exc) != "TargetGroupNotFound":
            raise
        return [*checks, Check(f"target groups {', '.join(names)} exist", fix="create them, or fix the group")]
    listeners = list((pairs[0].get("prodTrafficRoute") or {}).get("listenerArns") or [])
    what = f"the production listener of {name} exists"
    try:
        if not listeners:
            raise LookupError
        elbv2.describe_listeners(ListenerArns=listeners)
        checks.append(Check(what))
    except LookupError:
        checks.append(Check(what, fix="the deployment group names no production listener: add it"))
    except ClientError as exc:
        if _code(exc) != "ListenerNotFound":
            raise
        checks.append(Check(what, fix=f"{listeners[0]} does not exist: fix the deployment group's listener"))
    if service is not None:
        serving = [lb.get("targetGroupArn") for lb in service.get("loadBalancers") or []]
        what = f"{service['serviceName']} serves from {' or '.join(names)}"
        if set(serving) & set(arns):
            checks.append(Check(what))
        else:
            checks.append(Check(what, fix="the service's loadBalancers name neither target group: recreate the "
                                "service behind the blue target group"))  # fmt: skip
    return checks


def _role_check(account: Account, arn: str, why: str) -> Check:
    name = arn.rsplit("/", 1)[-1]
    what = f"IAM role {name} exists ({why})"
    parts = arn.split(":")
    if len(parts) > 4 and parts[4] and parts[4] != account.account_id:
        return Check(what, fix=f"{arn} is in account {parts[4]}, not in this one ({account.account_id}): fix the ARN")
    try:
        account.client("iam").get_role(RoleName=name)
    except ClientError as exc:
        if _code(exc) != "NoSuchEntity":
            raise
        return Check(what, fix=f"create {name} (docs/first-service.md), or fix the ARN")
    return Check(what)
