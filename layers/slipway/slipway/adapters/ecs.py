"""ECS task definitions: what a service runs now, and idempotent registration (``TaskDefinitionRegistry``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from slipway.models.release import TAG_PLAN_HASH

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient


class EcsRegistry:
    def __init__(self, ecs: ECSClient) -> None:
        self._ecs = ecs

    def _describe(self, task_definition: str) -> dict[str, Any] | None:
        """DescribeTaskDefinition output with its ``tags``; None when there is no such family or revision."""
        try:
            response = self._ecs.describe_task_definition(taskDefinition=task_definition, include=["TAGS"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("ClientException", "TaskDefinitionNotFoundException"):
                return None
            raise
        result: dict[str, Any] = dict(response["taskDefinition"])
        result["tags"] = list(response.get("tags", []))
        return result

    def live_task_definition(self, cluster: str, service: str) -> dict[str, Any] | None:
        """The task definition the service runs (its PRIMARY task set's under CodeDeploy), or None."""
        try:
            response = self._ecs.describe_services(cluster=cluster, services=[service])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ClusterNotFoundException":
                return None
            raise
        services = [s for s in response.get("services", []) if s.get("status") != "INACTIVE"]
        if not services:
            return None
        arn = services[0].get("taskDefinition")
        if not arn:
            primary = [t for t in services[0].get("taskSets", []) if t.get("status") == "PRIMARY"]
            arn = primary[0].get("taskDefinition") if primary else None
        return self._describe(arn) if arn else None

    def register_or_reuse(
        self, task_definition: dict[str, Any], plan_hash: str, tags: dict[str, str]
    ) -> tuple[str, bool]:
        """Reuse the family's latest ACTIVE revision when it carries ``slipway:plan-hash == plan_hash``."""
        latest = self._describe(str(task_definition["family"]))
        if latest is not None and latest.get("status") == "ACTIVE":
            latest_tags = {t["key"]: t.get("value") for t in latest["tags"]}
            if latest_tags.get(TAG_PLAN_HASH) == plan_hash:
                return str(latest["taskDefinitionArn"]), True
        own = [t for t in task_definition.get("tags", []) if t.get("key") not in tags]
        params = {**task_definition, "tags": own + [{"key": k, "value": v} for k, v in tags.items()]}
        response = self._ecs.register_task_definition(**params)
        return response["taskDefinition"]["taskDefinitionArn"], False
