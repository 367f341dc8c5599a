"""World seeding: what the config describes, created in moto before any release. A VPC with two subnets, each
pipeline's ECR repository (with a ``bootstrap`` image), each environment's ECS cluster and CODE_DEPLOY service, each
CodeDeploy application and blue/green deployment group; and what the sample events name (``events/*.json``): the
images of the ECR pushes and the input artifacts of the CodePipeline jobs, so ``slipway local invoke`` runs them."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from typing import TYPE_CHECKING, Any

from slipway_dev.local.images import image_manifest

if TYPE_CHECKING:
    from slipway_dev.local.cloud import LocalCloud


def seed_world(cloud: LocalCloud, config: Any) -> None:
    ec2, ecr, ecs = (cloud.client(s) for s in ("ec2", "ecr", "ecs"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{cloud.region}{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    security_group = ec2.create_security_group(GroupName="slipway-local-service", Description="app", VpcId=vpc)[
        "GroupId"
    ]
    repositories = sorted({p.repository for p in config.pipelines.values()})
    for repository in repositories:
        ecr.create_repository(repositoryName=repository, imageScanningConfiguration={"scanOnPush": True})
        ecr.put_image(repositoryName=repository, imageManifest=image_manifest("bootstrap"), imageTag="bootstrap")
    _seed_sample_event_images(cloud, repositories)
    _seed_sample_event_artifacts(cloud)
    registry = f"{cloud.account}.dkr.ecr.{cloud.region}.amazonaws.com"
    applications: set[str] = set()
    clusters: set[str] = set()
    for pipeline in config.pipelines.values():
        for env in pipeline.environments:
            if env.cluster not in clusters:
                ecs.create_cluster(clusterName=env.cluster)
                clusters.add(env.cluster)
            containers = [
                {"name": name, "image": f"{registry}/{pipeline.repository}:bootstrap", "essential": True, "memory": 512}
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
            ecs.create_service(
                cluster=env.cluster,
                serviceName=env.service,
                taskDefinition=task_definition,
                desiredCount=1,
                launchType="FARGATE",
                deploymentController={"type": "CODE_DEPLOY"},
                networkConfiguration={
                    "awsvpcConfiguration": {
                        "subnets": subnets,
                        "securityGroups": [security_group],
                        "assignPublicIp": "DISABLED",
                    }
                },
            )
            if env.deployment.application not in applications:
                cloud.client("codedeploy").create_application(
                    applicationName=env.deployment.application, computePlatform="ECS"
                )
                applications.add(env.deployment.application)
            _create_deployment_group(cloud, env)


def _create_deployment_group(cloud: LocalCloud, env: Any) -> None:
    """An ECS blue/green deployment group with two target groups, as the seed post's set-up has."""
    cloud.client("codedeploy").create_deployment_group(
        applicationName=env.deployment.application,
        deploymentGroupName=env.deployment.deployment_group,
        serviceRoleArn=f"arn:aws:iam::{cloud.account}:role/codedeploy-service-role",
        deploymentConfigName="CodeDeployDefault.ECSAllAtOnce",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        blueGreenDeploymentConfiguration={
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": 5},
            "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
        },
        ecsServices=[{"serviceName": env.service, "clusterName": env.cluster}],
        loadBalancerInfo={
            "targetGroupPairInfoList": [
                {
                    "targetGroups": [{"name": f"{env.name}-blue"}, {"name": f"{env.name}-green"}],
                    "prodTrafficRoute": {
                        "listenerArns": [
                            f"arn:aws:elasticloadbalancing:{cloud.region}:{cloud.account}:listener/app/"
                            f"{env.name}/0123456789abcdef/0123456789abcdef"
                        ]
                    },
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
