"""FinalizeRelease task: the release stopped (failed, rejected, expired, superseded) -> outcome, locks, Slack."""

from __future__ import annotations

from typing import Any

from slipway.adapters.codedeploy import release_deps
from slipway.domain.release import finalize_release
from slipway.errors import MalformedEvent
from slipway.models.release import Release
from slipway.observability import instrument


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    if "release" not in event or not isinstance(event.get("error"), dict):
        raise MalformedEvent("FinalizeRelease expects {'release': ..., 'error': {'Error': ..., 'Cause': ...}}")
    release = Release.model_validate(event["release"])
    return finalize_release(release_deps(), release, event["error"])
