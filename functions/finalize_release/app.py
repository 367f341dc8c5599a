"""FinalizeRelease task: the release stopped (failed, rejected, expired, superseded) -> outcome, locks, Slack."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from slipway.domain.release.finalize import finalize_release
from slipway.models.parsing import parse_event
from slipway.models.payloads import FinalizeReleaseInput
from slipway.observability import instrument
from slipway.wiring import wiring


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    task = parse_event(FinalizeReleaseInput, event, "FinalizeRelease payload")
    return finalize_release(wiring().release, task)
