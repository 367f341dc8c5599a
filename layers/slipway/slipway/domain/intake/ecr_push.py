"""An ECR push (EventBridge ``aws.ecr`` / ``ECR Image Action``) -> one release per pipeline that wants it; and
CloudTrail's record of the same push (``AWS API Call via CloudTrail``, ``PutImage``) -> who pushed it.

Nothing is read or written before StartExecution, so a duplicate event costs one AWS call. The two events arrive
separately and in either order; the pusher is read when an approval is requested (``slipway.domain.approval``).
"""

from __future__ import annotations

from typing import Any

from slipway.domain.intake.ports import IntakeDeps
from slipway.domain.intake.start import PipelineOutcome, commit_from_tag, start_release
from slipway.errors import MalformedEvent
from slipway.models.events import EcrImageActionEvent, EcrPutImageCallEvent
from slipway.models.parsing import parse_event
from slipway.models.release import Release, release_id_for
from slipway.observability import (
    EVENT_IGNORED,
    MALFORMED_EVENT,
    TAG_MISMATCH_IGNORED,
    UNKNOWN_REPOSITORY_IGNORED,
    emit,
    logger,
)

PUT_IMAGE_CALL = "AWS API Call via CloudTrail"


def parse_ecr_push(event: Any) -> EcrImageActionEvent:
    """The ECR event, or ``MalformedEvent`` (logged, counted, raised: Lambda retries, then the dead-letter queue)."""
    try:
        return parse_event(EcrImageActionEvent, event, "ECR Image Action event")
    except MalformedEvent as exc:
        logger.error("malformed ECR event", extra={"error": str(exc)})
        emit(MALFORMED_EVENT)
        raise


def parse_ecr_event(event: Any) -> EcrImageActionEvent | EcrPutImageCallEvent:
    """Either of the function's two events, told apart by ``detail-type``; ``MalformedEvent`` otherwise."""
    if isinstance(event, dict) and event.get("detail-type") == PUT_IMAGE_CALL:
        try:
            return parse_event(EcrPutImageCallEvent, event, "CloudTrail PutImage event")
        except MalformedEvent as exc:
            logger.error("malformed CloudTrail PutImage event", extra={"error": str(exc)})
            emit(MALFORMED_EVENT)
            raise
    return parse_ecr_push(event)


def record_pusher(event: EcrPutImageCallEvent, deps: IntakeDeps) -> dict[str, Any]:
    """Keep who put the image, for a repository some pipeline uses; a failed call or an unknown repository is
    ignored. One write, idempotent: a redelivered event changes nothing."""
    detail = event.detail
    repository = detail.request_parameters.repository_name
    response = detail.response_elements
    principal = detail.user_identity.arn
    if detail.error_code or response is None or not principal:
        reason = f"PutImage failed ({detail.error_code})" if detail.error_code else "no image or no principal"
        logger.info("pusher not recorded", extra={"repository": repository, "reason": reason})
        return {"ignored": True, "reason": reason}
    if not deps.config().for_repository(repository):
        logger.info("pusher not recorded: no pipeline uses the repository", extra={"repository": repository})
        return {"ignored": True, "reason": f"no pipeline uses repository {repository!r}"}
    digest = response.image.image_id.image_digest
    deps.pushers.record(repository, digest, principal)
    logger.info("pusher recorded", extra={"repository": repository, "digest": digest, "principal": principal})
    return {"pusher": {"repository": repository, "digest": digest, "principal": principal}}


def on_ecr_event(event: EcrImageActionEvent | EcrPutImageCallEvent, deps: IntakeDeps) -> dict[str, Any]:
    """The ECR push function's two events: a push starts releases, a PutImage call records who pushed."""
    if isinstance(event, EcrPutImageCallEvent):
        return record_pusher(event, deps)
    return {"outcomes": [o.as_dict() for o in intake_ecr_push(event, deps)]}


def _ignored(reason: str, metric: str, pipeline: str | None = None, **log: Any) -> PipelineOutcome:
    logger.info(f"push ignored: {reason}", extra={"pipeline": pipeline, **log})
    emit(metric)
    return PipelineOutcome(pipeline, "ignored", reason=reason)


def intake_ecr_push(event: EcrImageActionEvent, deps: IntakeDeps) -> list[PipelineOutcome]:
    """Start one release per pipeline that uses the repository and whose tag filter matches the pushed tag."""
    detail = event.detail
    where = {"repository": detail.repository_name, "digest": detail.image_digest, "tag": detail.image_tag}
    if detail.action_type != "PUSH" or detail.result != "SUCCESS":
        return [_ignored(f"not a successful push ({detail.action_type} {detail.result})", EVENT_IGNORED, **where)]
    pipelines = deps.config().for_repository(detail.repository_name)
    if not pipelines:
        return [
            _ignored(f"no pipeline uses repository {detail.repository_name!r}", UNKNOWN_REPOSITORY_IGNORED, **where)
        ]
    tag = detail.image_tag
    outcomes: list[PipelineOutcome] = []
    for pipeline in pipelines:
        if tag is None:
            outcomes.append(_ignored("untagged push", TAG_MISMATCH_IGNORED, pipeline.name, **where))
            continue
        if not pipeline.matches_tag(tag):
            reason = f"tag {tag!r} does not match tag_filter {pipeline.tag_filter!r}"
            outcomes.append(_ignored(reason, TAG_MISMATCH_IGNORED, pipeline.name, **where))
            continue
        release = Release(
            release_id=release_id_for(pipeline.name, detail.image_digest),
            pipeline=pipeline.name,
            registry=event.registry,
            repository=detail.repository_name,
            digest=detail.image_digest,
            tags=[tag],
            commit=commit_from_tag(tag),
            pushed_at=event.time,
            source="ecr",
            source_event_id=event.id,
        )
        outcomes.append(start_release(release, pipeline.environment_names(), starter=deps.starter, audit=deps.audit))
    return outcomes
