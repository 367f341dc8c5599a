"""World seeding: what the config describes, created in moto before any release, complete enough that
``slipway preflight`` of the config passes. A VPC with two subnets, each pipeline's ECR repository (with a
``bootstrap`` image), the IAM roles (the stack's ``TaskRoleArns`` and the CodeDeploy service role), per environment
an application load balancer with a production listener and two target groups (blue, green), the ECS cluster and
service behind the blue one (CODE_DEPLOY, with the CodeDeploy application and blue/green deployment group; or, for
``deployment.type: ecs``, the ECS controller with the environment's strategy and circuit breaker); the Slack
workspace (the config's channels with the bot in them, its approvers and approver groups); and what the sample
events name (``events/*.json``): the images of the ECR pushes and the input artifacts of the CodePipeline jobs, so
``slipway local invoke`` runs them.

An environment with a ``target`` is seeded in its own account and region (``slipway_dev.local.accounts``): its
VPC, load balancer, cluster, service, CodeDeploy application and group, roles, and the deploy role slipway
assumes, created with that account's credentials."""

from __future__ import annotations

import contextlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slipway_dev.local.accounts import Place, place_of, seed_pull_policies, seed_target_account
from slipway_dev.local.images import image_manifest

if TYPE_CHECKING:
    from slipway_dev.local.cloud import LocalCloud

CODEDEPLOY_SERVICE_ROLE = "codedeploy-service-role"


def seed_network(place: Place) -> None:
    """A VPC with two subnets and a security group in ``place`` (its account and region)."""
    ec2 = place.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    place.vpc = vpc
    place.subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{place.region}{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    place.security_group = ec2.create_security_group(GroupName="slipway-local-service", Description="app", VpcId=vpc)[
        "GroupId"
    ]


def seed_world(cloud: LocalCloud, config: Any) -> None:
    ecr = cloud.client("ecr")
    home = place_of(cloud, None)
    seed_network(home)
    _seed_roles(cloud)
    _seed_slack(cloud, config)
    repositories = sorted({p.repository for p in config.pipelines.values()})
    for repository in repositories:
        ecr.create_repository(repositoryName=repository, imageScanningConfiguration={"scanOnPush": True})
        ecr.put_image(repositoryName=repository, imageManifest=image_manifest("bootstrap"), imageTag="bootstrap")
    seed_pull_policies(cloud, config)
    _seed_sample_event_images(cloud, repositories)
    _seed_sample_event_artifacts(cloud)
    registry = f"{cloud.account}.dkr.ecr.{cloud.region}.amazonaws.com"
    applications: set[tuple[str, str]] = set()
    clusters: set[tuple[str, str]] = set()
    for pipeline in config.pipelines.values():
        for env in pipeline.environments:
            place = place_of(cloud, env.target)
            if not place.vpc:
                seed_network(place)
                seed_target_account(cloud, config, place)
            ecs = place.client("ecs")
            image_registry = registry.replace(f".{cloud.region}.", f".{place.region}.", 1)
            if (place.key, env.cluster) not in clusters:
                ecs.create_cluster(clusterName=env.cluster)
                clusters.add((place.key, env.cluster))
            containers = [
                {
                    "name": name,
                    "image": f"{image_registry}/{pipeline.repository}:bootstrap",
                    "essential": True,
                    "memory": 512,
                }
                for name in env.containers
            ]
            task_definition = ecs.register_task_definition(
                family=f"{pipeline.name}-{env.name}-bootstrap",
                containerDefinitions=containers,
                networkMode="awsvpc",
                requiresCompatibilities=["FARGATE"],
                cpu="256",
                memory="512",
            )["taskDefinition"]["taskDefinitionArn"]
            load_balancer = _seed_load_balancer(place, pipeline, env)
            native = env.deployment.type == "ecs"
            ecs.create_service(
                cluster=env.cluster,
                serviceName=env.service,
                taskDefinition=task_definition,
                desiredCount=1,
                launchType="FARGATE",
                deploymentController={"type": "ECS" if native else "CODE_DEPLOY"},
                loadBalancers=[
                    {
                        "targetGroupArn": load_balancer.blue_arn,
                        "containerName": (env.appspec.container_name if env.appspec else None) or env.containers[0],
                        "containerPort": _container_port(env),
                    }
                ],
                networkConfiguration={
                    "awsvpcConfiguration": {
                        "subnets": place.subnets,
                        "securityGroups": [place.security_group],
                        "assignPublicIp": "DISABLED",
                    }
                },
            )
            if native:
                _seed_ecs_strategy(cloud, env)
                continue
            if (place.key, env.deployment.application) not in applications:
                place.client("codedeploy").create_application(
                    applicationName=env.deployment.application, computePlatform="ECS"
                )
                applications.add((place.key, env.deployment.application))
            _create_deployment_group(place, env, load_balancer)


def _container_port(env: Any) -> int:
    return (env.appspec.container_port if env.appspec else None) or 80


def _seed_ecs_strategy(cloud: LocalCloud, env: Any) -> None:
    """The service's own deploymentConfiguration, as the environment declares it (moto's CreateService drops it):
    its strategy (ROLLING when unset) and circuit breaker."""
    from slipway.adapters.ecs_deployments import deployment_configuration

    cloud.ecs_deployments.configure(env.cluster, env.service, deployment_configuration(env.deployment))


@dataclass(frozen=True)
class LoadBalancer:
    """An environment's production listener and its blue/green target groups."""

    listener_arn: str
    target_groups: tuple[str, str]  # names: blue, green
    blue_arn: str


def _elb_name(*parts: str) -> str:
    """ELB names: at most 32 letters, digits and hyphens."""
    return re.sub(r"[^A-Za-z0-9-]", "-", "-".join(parts))[:32].strip("-")


def _seed_load_balancer(place: Place, pipeline: Any, env: Any) -> LoadBalancer:
    elbv2, vpc, subnets = place.client("elbv2"), place.vpc, place.subnets
    port = _container_port(env)
    balancer = elbv2.create_load_balancer(Name=_elb_name(pipeline.name, env.name), Subnets=subnets, Type="application")
    names = (_elb_name(pipeline.name, env.name, "blue"), _elb_name(pipeline.name, env.name, "green"))
    arns = [
        elbv2.create_target_group(Name=name, Protocol="HTTP", Port=port, VpcId=vpc, TargetType="ip")["TargetGroups"][0][
            "TargetGroupArn"
        ]
        for name in names
    ]
    listener = elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancers"][0]["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": arns[0]}],
    )["Listeners"][0]["ListenerArn"]
    return LoadBalancer(listener_arn=listener, target_groups=names, blue_arn=arns[0])


def _seed_roles(cloud: LocalCloud) -> None:
    """The roles the stack may pass to ECS (its TaskRoleArns), and the CodeDeploy service role."""
    iam = cloud.client("iam")
    trusts = {CODEDEPLOY_SERVICE_ROLE: "codedeploy.amazonaws.com"}
    for arn in cloud.world.parameters.get("TaskRoleArns") or []:
        trusts.setdefault(str(arn).rsplit("/", 1)[-1], "ecs-tasks.amazonaws.com")
    for name, service in trusts.items():
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))


def _seed_slack(cloud: LocalCloud, config: Any) -> None:
    """The config's channels (the bot in each), approvers and approver groups, in the fake Slack."""
    for pipeline in config.pipelines.values():
        for channel in [pipeline.slack_channel, *(env.slack_channel for env in pipeline.environments)]:
            if channel and channel not in cloud.slack.channel_ids:
                cloud.slack.add_channel(channel)
        for env in pipeline.environments:
            for user in env.approval.approvers.users:
                cloud.slack.add_user(user)
            for group in env.approval.approvers.groups:
                cloud.slack.usergroups.setdefault(group, list(env.approval.approvers.users))


def _ready_option(env: Any) -> dict[str, Any]:
    """An approval after test traffic holds the deployment in the ready wait for as long as the approval may take
    (docs/deployers.md); otherwise traffic moves at once."""
    if env.approval.required and env.approval.stage == "after_test_traffic":
        return {"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": env.approval.timeout_minutes}
    return {"actionOnTimeout": "CONTINUE_DEPLOYMENT"}


def _create_deployment_group(place: Place, env: Any, load_balancer: LoadBalancer) -> None:
    """An ECS blue/green deployment group with two target groups, as the seed post's set-up has."""
    place.client("codedeploy").create_deployment_group(
        applicationName=env.deployment.application,
        deploymentGroupName=env.deployment.deployment_group,
        serviceRoleArn=f"arn:aws:iam::{place.account}:role/{CODEDEPLOY_SERVICE_ROLE}",
        deploymentConfigName="CodeDeployDefault.ECSAllAtOnce",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        blueGreenDeploymentConfiguration={
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 5},
            "deploymentReadyOption": _ready_option(env),
        },
        ecsServices=[{"serviceName": env.service, "clusterName": env.cluster}],
        loadBalancerInfo={
            "targetGroupPairInfoList": [
                {
                    "targetGroups": [{"name": name} for name in load_balancer.target_groups],
                    "prodTrafficRoute": {"listenerArns": [load_balancer.listener_arn]},
                }
            ]
        },
    )


def _seed_sample_event_images(cloud: LocalCloud, repositories: list[str]) -> None:
    """The digests named by events/*.json ECR pushes exist, so `slipway local invoke` can run them."""
    events_dir = cloud.root / "events"
    if not events_dir.is_dir():
        return
    ecr = cloud.client("ecr")
    for path in sorted(events_dir.glob("*.json")):
        try:
            event = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        detail = event.get("detail") if isinstance(event, dict) else None
        if not isinstance(detail, dict) or event.get("source") != "aws.ecr":
            continue
        repository, digest = detail.get("repository-name"), detail.get("image-digest")
        if repository not in repositories or not isinstance(digest, str):
            continue
        with contextlib.suppress(Exception):
            ecr.put_image(
                repositoryName=repository,
                imageManifest=image_manifest(path.name),
                imageTag=str(detail.get("image-tag") or path.stem),
                imageDigest=digest,
            )


def _seed_sample_event_artifacts(cloud: LocalCloud) -> None:
    """The input artifacts named by events/*.json CodePipeline jobs exist: a zip with the seed's files.

    imageDetail.json names the sample ECR push's image by tag; the taskdef/appspec files are the config's.
    """
    events_dir = cloud.root / "events"
    sample = events_dir / "ecr-push.json"
    if not sample.is_file():
        return
    detail = json.loads(sample.read_text(encoding="utf-8"))["detail"]
    registry = f"{cloud.account}.dkr.ecr.{cloud.region}.amazonaws.com"
    image_uri = f"{registry}/{detail['repository-name']}:{detail['image-tag']}"
    s3 = cloud.client("s3")
    for path in sorted(events_dir.glob("*.json")):
        try:
            job = json.loads(path.read_text(encoding="utf-8")).get("CodePipeline.job")
        except (ValueError, AttributeError):
            continue
        if not isinstance(job, dict):
            continue
        for artifact in job.get("data", {}).get("inputArtifacts", []):
            location = artifact.get("location", {}).get("s3Location", {})
            bucket, key = location.get("bucketName"), location.get("objectKey")
            if not bucket or not key:
                continue
            with contextlib.suppress(Exception):
                s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": cloud.region})
            s3.put_object(Bucket=bucket, Key=key, Body=_artifact_zip(cloud, image_uri))


def _artifact_zip(cloud: LocalCloud, image_uri: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("imageDetail.json", json.dumps({"ImageURI": image_uri}))
        taskdef = cloud.config_dir / "taskdefs" / "app-task.json"
        appspec = cloud.config_dir / "appspecs" / "appspec.yaml"
        for env in ("staging", "production"):
            if taskdef.is_file():
                archive.writestr(f"taskdef-{env}.json", taskdef.read_text(encoding="utf-8"))
            if appspec.is_file():
                archive.writestr(f"appspec-{env}.yaml", appspec.read_text(encoding="utf-8"))
    return buffer.getvalue()
