"""The one place that creates the Powertools Logger, Tracer and Metrics.

- ``logger`` and ``metrics`` are created at import (cheap). The ``Tracer`` is created on first use: building it
  costs about as much as importing boto3 (the X-Ray SDK patches and builds clients), and the Slack callback must
  answer within 3 s of a cold start. ``from slipway.observability import tracer`` still works (PEP 562 module
  ``__getattr__``) but creates it; prefer ``get_tracer()`` inside the invocation, or the ``instrument`` decorator.
- Every handler sets the release id as the correlation id (``set_release_context`` or ``instrument``), so every
  log line of a release, across all functions, can be found with one CloudWatch Logs Insights filter.
- Metric names are constants here and are documented in docs/observability.md; the CloudWatch alarm on failed
  releases (template.yaml) matches ``RELEASES_FAILED`` in namespace ``Slipway`` with dimension service=slipway.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = "slipway"
NAMESPACE = "Slipway"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

# ---------------------------------------------------------------- metric names (EMF, namespace Slipway)
RELEASES_STARTED = "ReleasesStarted"  # Count: an execution started for a new (pipeline, digest)
RELEASES_SUCCEEDED = "ReleasesSucceeded"  # Count: every environment deployed
RELEASES_FAILED = "ReleasesFailed"  # Count: ended FAILED (deployment failure, render error, ...): alarmed
RELEASES_REJECTED = "ReleasesRejected"  # Count: a person rejected an approval
RELEASES_EXPIRED = "ReleasesExpired"  # Count: nobody approved in time
RELEASES_SUPERSEDED = "ReleasesSuperseded"  # Count: a newer digest of the same pipeline replaced it
APPROVAL_WAIT_SECONDS = "ApprovalWaitSeconds"  # Seconds: approval requested -> decision
LEAD_TIME_SECONDS = "LeadTimeSeconds"  # Seconds: commit (or push) time -> production success
DUPLICATE_RELEASE_IGNORED = "DuplicateReleaseIgnored"  # Count: a redelivered push / job for a running release
MALFORMED_EVENT = "MalformedEvent"  # Count: an event without the documented shape (named in the log)
EVENT_IGNORED = "EventIgnored"  # Count: a well-formed event slipway has nothing to do for (not a successful push)
UNKNOWN_REPOSITORY_IGNORED = "UnknownRepositoryIgnored"  # Count: a push to a repository no pipeline uses
TAG_MISMATCH_IGNORED = "TagMismatchIgnored"  # Count: per pipeline, a push whose tag fails its tag_filter (or none)
CODEPIPELINE_JOB_CONTINUED = "CodePipelineJobContinued"  # Count: a job answered "still running" (continuation)
CODEPIPELINE_JOB_SUCCEEDED = "CodePipelineJobSucceeded"  # Count: a job reported success (release deployed)
CODEPIPELINE_JOB_FAILED = "CodePipelineJobFailed"  # Count: a job reported failure (bad input or release ended)

METRIC_UNITS: dict[str, MetricUnit] = {
    RELEASES_STARTED: MetricUnit.Count,
    RELEASES_SUCCEEDED: MetricUnit.Count,
    RELEASES_FAILED: MetricUnit.Count,
    RELEASES_REJECTED: MetricUnit.Count,
    RELEASES_EXPIRED: MetricUnit.Count,
    RELEASES_SUPERSEDED: MetricUnit.Count,
    APPROVAL_WAIT_SECONDS: MetricUnit.Seconds,
    LEAD_TIME_SECONDS: MetricUnit.Seconds,
    DUPLICATE_RELEASE_IGNORED: MetricUnit.Count,
    MALFORMED_EVENT: MetricUnit.Count,
    EVENT_IGNORED: MetricUnit.Count,
    UNKNOWN_REPOSITORY_IGNORED: MetricUnit.Count,
    TAG_MISMATCH_IGNORED: MetricUnit.Count,
    CODEPIPELINE_JOB_CONTINUED: MetricUnit.Count,
    CODEPIPELINE_JOB_SUCCEEDED: MetricUnit.Count,
    CODEPIPELINE_JOB_FAILED: MetricUnit.Count,
}

# Final release status (as FinalizeRelease / the audit trail spell it) -> its metric.
STATUS_METRICS: dict[str, str] = {
    "SUCCEEDED": RELEASES_SUCCEEDED,
    "FAILED": RELEASES_FAILED,
    "REJECTED": RELEASES_REJECTED,
    "EXPIRED": RELEASES_EXPIRED,
    "SUPERSEDED": RELEASES_SUPERSEDED,
}


def emit(name: str, value: float = 1) -> None:
    """Add one documented metric; flushed by ``metrics.log_metrics`` (``instrument`` applies it)."""
    try:
        unit = METRIC_UNITS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; documented names: {', '.join(METRIC_UNITS)}") from None
    metrics.add_metric(name=name, unit=unit, value=value)


def emit_release_status(status: str) -> None:
    """The metric of a final release status (SUCCEEDED, FAILED, REJECTED, EXPIRED, SUPERSEDED)."""
    name = STATUS_METRICS.get(status.upper())
    if name is None:
        raise ValueError(f"no metric for release status {status!r}; known: {', '.join(STATUS_METRICS)}")
    emit(name)


# ---------------------------------------------------------------- tracer, created on first use
_tracer: Tracer | None = None


def get_tracer() -> Tracer:
    global _tracer  # noqa: PLW0603 - one per execution environment, by design
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        _tracer = Tracer(service=SERVICE)
    return _tracer


def __getattr__(name: str) -> Any:
    """``observability.tracer`` keeps working for callers that import it by name (creates it then)."""
    if name == "tracer":
        return get_tracer()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------- correlation id = release id
def release_id_from(event: Any) -> str | None:
    """The release id in any event a slipway function receives, or None.

    Looks at the shapes the state machine passes (``{"release": {...}}``, ``{"plan": {...}}``,
    ``{"check_deployment": {"release": ...}}``, a bare ``release_id``) one level deep.
    """
    if not isinstance(event, Mapping):
        return None
    direct = event.get("release_id")
    if isinstance(direct, str) and direct:
        return direct
    for key in ("release", "plan", "check_deployment", "input", "detail"):
        inner = event.get(key)
        if isinstance(inner, Mapping):
            found = release_id_from(inner)
            if found:
                return found
    return None


def set_release_context(release_id: str | None, **keys: Any) -> None:
    """Make ``release_id`` the correlation id of every following log line (and an X-Ray annotation).

    Call it as soon as the handler knows the release (intake: after computing release_id_for).
    """
    if not release_id:
        return
    logger.set_correlation_id(release_id)
    logger.append_keys(release_id=release_id, **keys)
    if _tracer is not None:
        _tracer.put_annotation(key="release_id", value=release_id)


F = TypeVar("F", bound=Callable[..., Any])
INSTRUMENTED = "__slipway_instrumented__"  # set on every handler ``instrument`` wrapped (tests check it)


def flush_metrics() -> None:
    """Print the EMF document of this invocation, if it counted anything (no empty-flush warning otherwise)."""
    if metrics.metric_set:
        metrics.flush_metrics()


@dataclass(frozen=True)
class _LocalContext:
    """Stands in for the Lambda context when a handler is called without one (tests, local tools)."""

    function_name: str
    memory_limit_in_mb: int = 0
    invoked_function_arn: str = ""
    aws_request_id: str = "local"


def instrument(handler: F | None = None, *, trace: bool = True) -> Any:
    """Decorator for every ``lambda_handler``: logger context, correlation id, EMF flush, tracing.

    - clears the previous invocation's log keys and injects the Lambda context;
    - sets the release id found in the event (``release_id_from``) as the correlation id;
    - flushes the invocation's EMF metrics, also when the handler raises;
    - ``trace=True``: wraps the handler in ``Tracer.capture_lambda_handler`` at its first invocation (the X-Ray
      SDK is never imported at module import). ``trace=False`` leaves the SDK out entirely (the Slack callback).
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def flushing(event: Any, context: Any) -> Any:
            set_release_context(release_id_from(event))
            try:
                return fn(event, context)
            finally:
                flush_metrics()

        inner: Callable[..., Any] = _lazy_traced(flushing) if trace else flushing
        injected = logger.inject_lambda_context(inner, clear_state=True)

        @functools.wraps(fn)
        def lambda_handler(event: Any, context: Any) -> Any:
            if context is None:
                context = _LocalContext(function_name=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local"))
            return injected(event, context)

        setattr(lambda_handler, INSTRUMENTED, {"trace": trace})  # a marker the handler tests check
        return lambda_handler  # type: ignore[return-value]

    if handler is not None:
        return decorate(handler)
    return decorate


def _lazy_traced(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap with ``Tracer.capture_lambda_handler`` at the first invocation, not at import."""
    traced: Callable[..., Any] | None = None

    @functools.wraps(fn)
    def wrapper(event: Any, context: Any) -> Any:
        nonlocal traced
        if traced is None:
            traced = get_tracer().capture_lambda_handler(fn)
        return traced(event, context)

    return wrapper
