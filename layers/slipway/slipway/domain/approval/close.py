"""Closing approvals nobody decided: superseded by a newer release (``void_approvals``), timed out
(``expire_approvals``), replaced or voided because the plan changed (``close_approval``). Standard library only."""

from __future__ import annotations

import contextlib

from slipway.domain.approval.deliver import deliver, undelivered
from slipway.domain.approval.messages import EXPIRED_TEXT, escape, message
from slipway.domain.approval.ports import ApprovalGate
from slipway.errors import DecisionConflict, SlipwayError, TokenNoLongerValid
from slipway.models.records import ApprovalRecord, ApprovalStatus
from slipway.observability import logger


def close_approval(
    gate: ApprovalGate,
    approval_id: str,
    *,
    status: str,
    text: str,
    fail_task: bool,
    reason: str | None = None,
    error: str = "Superseded",
) -> bool:
    """PENDING -> status; optionally fail the waiting task; update the Slack message. False if not pending.

    The task's failure is delivered with retries (``deliver``); when it still fails the error propagates, and the
    caller's retry finds the record closed with ``status`` but undelivered and sends the failure again.
    """
    record = gate.store.get(approval_id)
    if record is None:
        return False
    if record.status == status and fail_task and undelivered(record, gate.clock()):
        _fail_task(gate, record, error, text)  # an earlier close recorded it but could not deliver it
        return False
    if record.status != ApprovalStatus.PENDING:
        return False
    now = gate.clock()
    try:
        gate.store.finish(
            record, status=status, at=now.isoformat(timespec="seconds"), now_epoch=None, reason=reason or text
        )
    except DecisionConflict:
        return False
    record.status = status
    if record.channel_id and record.message_ts:
        fallback, blocks = message(record, text, buttons=False)
        try:
            gate.slack.update_message(record.channel_id, record.message_ts, fallback, blocks)
        except SlipwayError as exc:
            logger.warning(
                "could not update the approval message", extra={"approval_id": approval_id, "problem": str(exc)}
            )
    if fail_task:
        _fail_task(gate, record, error, text)
    return True


def _fail_task(gate: ApprovalGate, record: ApprovalRecord, error: str, cause: str) -> None:
    if record.kind != "stepfunctions" or not record.task_token:
        return
    with contextlib.suppress(TokenNoLongerValid):  # the execution already stopped waiting
        deliver(gate, record, approved=False, summary=cause, error=error)


def void_approvals(gate: ApprovalGate, release_id: str, reason: str) -> int:
    """A newer release replaced ``release_id``: fail its waiting approvals with ``Superseded`` and say so in Slack.

    ``reason`` names the newer release; a leading "Superseded by " is not repeated. Returns how many were voided.
    """
    reason = reason.removeprefix("Superseded by ").removeprefix("superseded by ")
    voided = 0
    for approval_id in gate.store.approval_ids_for_release(release_id):
        if close_approval(
            gate,
            approval_id,
            status=ApprovalStatus.SUPERSEDED,
            text=f":arrow_right_hook: Superseded by {escape(reason)}",
            fail_task=True,
            reason=f"superseded by {reason}",
            error="Superseded",
        ):
            voided += 1
    return voided


def expire_approvals(gate: ApprovalGate, release_id: str) -> int:
    """The approval task timed out (error ``Expired``): mark the records and messages Expired. Returns the count."""
    expired = 0
    for approval_id in gate.store.approval_ids_for_release(release_id):
        if close_approval(
            gate,
            approval_id,
            status=ApprovalStatus.EXPIRED,
            text=EXPIRED_TEXT,
            fail_task=False,
            reason="nobody approved in time",
        ):
            expired += 1
    return expired
