"""PrepareEnvironment task: lock, promotion check, scan gate, render and register -> the environment's Plan."""

from __future__ import annotations

from typing import Any

from slipway.adapters.codedeploy import release_deps
from slipway.domain.release import prepare_environment
from slipway.errors import MalformedEvent
from slipway.models.release import Release
from slipway.observability import instrument, logger


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "release" not in event or "environment" not in event:
        raise MalformedEvent("PrepareEnvironment expects {'release': ..., 'environment': NAME}")
    release = Release.model_validate(event["release"])
    logger.append_keys(environment=event["environment"])
    return prepare_environment(release_deps(), release, str(event["environment"]))
