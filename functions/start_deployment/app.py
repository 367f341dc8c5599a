"""Deploy task (.waitForTaskToken): CreateDeployment with AppSpecContent, park the token under the deployment id."""

from __future__ import annotations

from typing import Any

from slipway.adapters.codedeploy import release_deps
from slipway.domain.release import start_deployment
from slipway.errors import MalformedEvent
from slipway.models.release import Plan, Release
from slipway.observability import instrument, logger


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    missing = [k for k in ("task_token", "release", "environment", "plan") if k not in event]
    if missing:
        raise MalformedEvent(f"StartDeployment payload lacks: {', '.join(missing)}")
    release = Release.model_validate(event["release"])
    logger.append_keys(environment=event["environment"])
    return start_deployment(
        release_deps(),
        task_token=str(event["task_token"]),
        release=release,
        environment=str(event["environment"]),
        plan=Plan.model_validate(event["plan"]),
        environments=[str(e) for e in event.get("environments") or []],
    )
