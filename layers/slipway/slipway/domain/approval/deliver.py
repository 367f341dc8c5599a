"""Delivering a decision to whatever waits for it: the release's task token (SendTaskSuccess / SendTaskFailure), a
CodePipeline Manual approval action (PutApprovalResult), or an ECS deployment paused after test traffic
(ContinueServiceDeployment CONTINUE / ROLLBACK). Standard library only (the Slack callback's cold path).

A decision is stored first (one conditional write) and delivered second, so delivery can fail after the record says
APPROVED or REJECTED. Throttling and 5xx (``TransientError``) are retried here, a few times within the Slack
callback's budget; the record's ``task_completed_at`` says whether delivery went through. A decision is
``undelivered`` when every attempt failed (``delivery_problem``), or when it was decided longer ago than a Slack
callback can run without being delivered (the function crashed or timed out between the two writes); a later click,
or a retried void, then sends it again. A decision still being delivered by the click that made it is not sent
twice. Step Functions answers a token it no longer waits on with ``TokenNoLongerValid``, so a resend is harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from slipway.domain.approval.ports import ApprovalGate
from slipway.errors import TransientError
from slipway.models.records import ApprovalRecord, ApprovalStatus

# The SDK retries throttling itself first (standard mode); these attempts come on top, 0.2 s and 0.4 s apart, so a
# click still gets its answer within Slack's 3 s when Step Functions recovers quickly.
SEND_ATTEMPTS = 3
SEND_BACKOFF_SECONDS = 0.2
# Longer than the Slack callback's Lambda timeout (template.yaml: 10 s): a decision this old and neither delivered
# nor failed was left by a function that stopped between deciding and delivering.
DELIVERY_GRACE = timedelta(seconds=15)
DECIDED = frozenset({ApprovalStatus.APPROVED, ApprovalStatus.REJECTED})
CLOSED = frozenset({ApprovalStatus.SUPERSEDED, ApprovalStatus.VOID})


def undelivered(record: ApprovalRecord, now: datetime) -> bool:
    """A decision (or a void) is recorded, something waits for it, it was never delivered, and nobody is still
    delivering it."""
    if record.kind == "stepfunctions":
        waits = bool(record.task_token) or record.deployment_hook is not None
    else:
        waits = record.codepipeline is not None
    if record.status not in DECIDED | CLOSED or not waits or record.task_completed_at:
        return False
    if record.delivery_problem:
        return True
    try:
        decided = datetime.fromisoformat(record.updated_at or "")
    except ValueError:
        return True
    return now - decided > DELIVERY_GRACE


def deliver(
    gate: ApprovalGate,
    record: ApprovalRecord,
    *,
    approved: bool,
    summary: str,
    output: dict[str, Any] | None = None,
    error: str = "Rejected",
) -> None:
    """Send the decision, retrying ``TransientError``; then record it delivered.

    ``summary`` is PutApprovalResult's summary, or SendTaskFailure's cause; ``output`` SendTaskSuccess's output.
    Raises ``TokenNoLongerValid`` (nothing waits any more) or, once every attempt failed, ``TransientError``.
    """
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            if record.codepipeline is not None:
                gate.codepipeline.put_result(record.codepipeline, approved, summary)
            elif record.deployment_hook is not None:  # after test traffic: CONTINUE or ROLLBACK the deployment
                gate.hooks.decide(record.deployment_hook, approved)
            elif record.task_token:
                if approved:
                    gate.tasks.succeed(record.task_token, output or {})
                else:
                    gate.tasks.fail(record.task_token, error, summary)
            break
        except TransientError as exc:
            if attempt == SEND_ATTEMPTS:
                gate.store.mark_delivery_failed(record.approval_id, str(exc))
                raise
            gate.sleep(SEND_BACKOFF_SECONDS * 2 ** (attempt - 1))
    gate.store.mark_task_completed(record.approval_id, gate.clock().isoformat(timespec="seconds"))
