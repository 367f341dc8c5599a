"""CodeDeploy state-change events (EventBridge) and the state machine's timeout check, one function.

- ``{"detail-type": "CodeDeploy Deployment State-change Notification", "detail": {...}}``: find the task token by
  deployment id and complete it (SUCCESS -> SendTaskSuccess, FAILURE/STOP -> SendTaskFailure DeploymentFailed).
- ``{"check_deployment": {"release": ..., "environment": ...}}``: one GetDeployment after the wait timed out.
"""

from __future__ import annotations

from typing import Any

from slipway.adapters.codedeploy import release_deps
from slipway.domain.release import check_deployment, handle_deployment_event
from slipway.errors import MalformedEvent
from slipway.models.release import Release
from slipway.observability import instrument, logger

DETAIL_TYPE = "CodeDeploy Deployment State-change Notification"


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    check = event.get("check_deployment")
    if isinstance(check, dict):
        if "release" not in check or "environment" not in check:
            raise MalformedEvent("check_deployment expects {'release': ..., 'environment': NAME}")
        release = Release.model_validate(check["release"])
        logger.append_keys(environment=check["environment"])
        return check_deployment(release_deps(), release, str(check["environment"]))
    if event.get("detail-type") != DETAIL_TYPE:
        raise MalformedEvent(
            f"expected a '{DETAIL_TYPE}' event or a check_deployment request, got detail-type "
            f"{event.get('detail-type')!r}"
        )
    return handle_deployment_event(release_deps(), event)
