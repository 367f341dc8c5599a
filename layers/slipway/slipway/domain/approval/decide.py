"""A signed click: verify Slack's signature over the raw body before anything else, then decide with one
conditional write. Approve -> SendTaskSuccess / PutApprovalResult Approved; Reject -> SendTaskFailure
``Rejected`` / PutApprovalResult Rejected (delivered by ``deliver``, retried; a click on a decided record whose
decision never arrived sends it again). Standard library only (the Slack callback's cold path)."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from slipway.domain.approval.close import close_approval
from slipway.domain.approval.deliver import DECIDED, deliver, undelivered
from slipway.domain.approval.messages import (
    APPROVE_ACTION,
    EXPIRED_TEXT,
    REJECT_ACTION,
    message,
    pending_text,
    status_text,
    users_ref,
)
from slipway.domain.approval.ports import AppPins, ApprovalGate
from slipway.domain.approval.signature import http_response, read_http_event, verify_slack_signature
from slipway.errors import DecisionConflict, MalformedEvent, SlipwayError, TokenNoLongerValid, TransientError
from slipway.models.records import ApprovalRecord, ApprovalStatus, AuditKind, Decision
from slipway.observability import APPROVAL_WAIT_SECONDS, emit, logger, set_release_context

APPROVAL_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
DECISION_ATTEMPTS = 3


@dataclass(frozen=True)
class Click:
    approval_id: str
    action: str  # APPROVE_ACTION or REJECT_ACTION
    user: str
    response_url: str
    team_id: str | None = None  # the payload's team.id (the workspace)
    app_id: str | None = None  # the payload's api_app_id


def parse_block_actions(body: bytes) -> Click | None:
    """The ``payload`` form field of a ``block_actions`` interaction; None when it is not one of ours.

    Raises MalformedEvent when the (already authenticated) body is not a Slack interaction at all.
    """
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(form["payload"][-1])
    except (UnicodeDecodeError, ValueError, KeyError):
        raise MalformedEvent("Slack interaction: the body has no JSON 'payload' form field") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    user = payload.get("user") or {}
    actions = payload.get("actions") or []
    response_url = payload.get("response_url")
    if not isinstance(user, dict) or not isinstance(actions, list) or not isinstance(response_url, str):
        raise MalformedEvent("Slack interaction: block_actions without user, actions or response_url")
    for action in actions:
        if isinstance(action, dict) and action.get("action_id") in (APPROVE_ACTION, REJECT_ACTION):
            user_id = user.get("id")
            if not isinstance(user_id, str) or not user_id:
                raise MalformedEvent("Slack interaction: block_actions without user.id")
            team = payload.get("team")
            team_id = team.get("id") if isinstance(team, dict) else None
            app_id = payload.get("api_app_id")
            return Click(
                approval_id=str(action.get("value") or ""),
                action=str(action["action_id"]),
                user=user_id,
                response_url=response_url,
                team_id=team_id if isinstance(team_id, str) else None,
                app_id=app_id if isinstance(app_id, str) else None,
            )
    return None


def handle_interaction(gate: ApprovalGate, event: object) -> dict[str, Any]:
    """HTTP API ``POST /slack/interactions``: authenticate, then decide. Always answers Slack quickly.

    401 (empty body) for anything that is not signed by Slack within the last 5 minutes; 400 for a signed body
    that is not an interaction; 403 for a click from a workspace or app other than the pinned ones (the Slack
    secret's ``team_id`` / ``app_id``); 200 otherwise (refusals are ephemeral Slack replies, not HTTP errors).
    """
    request = read_http_event(event)
    if request is None:
        return http_response(401)
    ok = verify_slack_signature(
        gate.signing_secret(),
        request.headers.get("x-slack-request-timestamp"),
        request.body,
        request.headers.get("x-slack-signature"),
        now=gate.clock().timestamp(),
    )
    if not ok:
        logger.warning("Slack interaction refused: signature missing, stale or wrong")
        return http_response(401)
    try:
        click = parse_block_actions(request.body)
    except MalformedEvent as exc:
        logger.warning("Slack interaction ignored", extra={"problem": str(exc)})
        return http_response(400)
    if click is None:
        return http_response(200)
    wrong = _unpinned(gate.app_pins(), click)
    if wrong:
        logger.warning("Slack interaction refused: not from the pinned workspace or app", extra={"mismatch": wrong})
        return http_response(403)
    decide(gate, click)
    return http_response(200)


def _unpinned(pins: AppPins, click: Click) -> list[str]:
    """Which pins the click does not match (``team_id``, ``app_id``); a pinned id the payload lacks is a mismatch."""
    wrong = []
    if pins.team_id is not None and click.team_id != pins.team_id:
        wrong.append("team_id")
    if pins.app_id is not None and click.app_id != pins.app_id:
        wrong.append("app_id")
    return wrong


def decide(gate: ApprovalGate, click: Click) -> str:
    """Apply one authenticated click. Returns what happened (for logs and tests): approved, pending, rejected,
    or ``refused:<why>``."""
    if not APPROVAL_ID_PATTERN.fullmatch(click.approval_id):
        _ephemeral(gate, click, "This button does not belong to a slipway approval I know.")
        return "refused:unknown"
    for _ in range(DECISION_ATTEMPTS):
        try:
            return _decide_once(gate, click)
        except DecisionConflict:
            continue  # someone else wrote first: read again and decide on what is there now
    _ephemeral(gate, click, "Too many people clicked at once; please try again.")
    return "refused:busy"


def _decide_once(gate: ApprovalGate, click: Click) -> str:
    record = gate.store.get(click.approval_id)
    if record is None:
        _ephemeral(gate, click, "This approval request no longer exists.")
        return "refused:unknown"
    # The Slack callback learns the release only from the approval record: make it the correlation id.
    set_release_context(record.release_id, approval_id=record.approval_id)
    if record.status != ApprovalStatus.PENDING:
        if record.status in DECIDED and undelivered(record, gate.clock()):
            return _resend(gate, click, record)
        _ephemeral(gate, click, f"Nothing to do: this approval was already {status_text(record)}.")
        return "refused:decided"
    now = gate.clock()
    now_epoch = int(now.timestamp())
    at = now.isoformat(timespec="seconds")
    if record.expiry <= now_epoch:
        with contextlib.suppress(DecisionConflict):  # someone else closed it first
            gate.store.finish(
                record, status=ApprovalStatus.EXPIRED, at=at, now_epoch=None, reason="nobody approved in time"
            )
        _replace(gate, click, record, EXPIRED_TEXT, buttons=False)
        _ephemeral(gate, click, "Too late: this approval has expired.")
        return "refused:expired"
    if record.kind == "stepfunctions" and record.release_id:
        current = gate.store.current_plan_hash(record.release_id, record.environment)
        if current != record.plan_hash:
            reason = "the plan changed after this approval was requested"
            close_approval(
                gate,
                record.approval_id,
                status=ApprovalStatus.VOID,
                text=f"Void: {reason}",
                fail_task=True,
                reason=reason,
            )
            _ephemeral(gate, click, f"Refused: {reason}. A new approval request will follow if the release goes on.")
            return "refused:plan_changed"
    if not _allowed(gate, record, click.user):
        _ephemeral(gate, click, f"Refused: you are not an approver for {record.pipeline} → {record.environment}.")
        return "refused:not_allowed"
    if click.action == REJECT_ACTION:
        return _reject(gate, click, record, at=at, now_epoch=now_epoch)
    if not record.allow_pusher and (click.user in record.pushers or click.user == record.pushed_by):
        _ephemeral(gate, click, "Refused: you pushed this image, so someone else must approve it.")
        return "refused:pusher"
    if click.user in record.approved_by:
        _ephemeral(gate, click, f"You already approved this; {pending_text(record).split('; ')[-1]}.")
        return "refused:already_approved"
    complete = len(record.approved_by) + 1 >= record.required
    gate.store.add_approval(
        record,
        user=click.user,
        at=at,
        now_epoch=now_epoch,
        new_status=ApprovalStatus.APPROVED if complete else ApprovalStatus.PENDING,
    )
    record.approved_by = [*record.approved_by, click.user]
    record.decisions = [*record.decisions, Decision(click.user, at, "approve")]
    if not complete:
        _replace(gate, click, record, pending_text(record), buttons=True)
        _audit_decision(gate, record, click.user, "approve", at, complete=False)
        return "pending"
    return _approve(gate, click, record, at)


def _approve(gate: ApprovalGate, click: Click, record: ApprovalRecord, at: str) -> str:
    approvers = list(record.approved_by)
    text = f":white_check_mark: Approved by {users_ref(approvers)} at {at}"
    # Recorded before it is delivered: the release may end (FinalizeRelease reads the audit) as soon as it is.
    _audit_before_delivery(gate, record, click.user, "approve", at)
    try:
        deliver(
            gate,
            record,
            approved=True,
            summary=f"Approved in Slack by {', '.join(approvers)} at {at}",
            output=_approval_output(record),
        )
    except TokenNoLongerValid as exc:
        _replace(gate, click, record, f"{text}, but it came too late: {exc}", buttons=False)
        _ephemeral(gate, click, f"Your approval was recorded, but {exc}.")
        return "refused:token_gone"
    except TransientError as exc:
        return _undelivered(gate, click, record, text, "approve", exc)
    _replace(gate, click, record, text, buttons=False)
    _emit_wait(record, at)
    logger.info("approval granted", extra={"approval_id": record.approval_id, "approved_by": approvers})
    return "approved"


def _reject(gate: ApprovalGate, click: Click, record: ApprovalRecord, *, at: str, now_epoch: int) -> str:
    gate.store.finish(
        record,
        status=ApprovalStatus.REJECTED,
        at=at,
        now_epoch=now_epoch,
        user=click.user,
        reason=f"rejected by {click.user}",
    )
    record.status = ApprovalStatus.REJECTED
    record.decisions = [*record.decisions, Decision(click.user, at, "rejected")]
    text = f":x: Rejected by <@{click.user}> at {at}"
    _audit_before_delivery(gate, record, click.user, "reject", at)
    try:
        deliver(gate, record, approved=False, summary=_rejection_summary(record, click.user, at))
    except TokenNoLongerValid as exc:
        _replace(gate, click, record, f"{text}, but it came too late: {exc}", buttons=False)
        _ephemeral(gate, click, f"Your rejection was recorded, but {exc}.")
        return "refused:token_gone"
    except TransientError as exc:
        return _undelivered(gate, click, record, text, "reject", exc)
    _replace(gate, click, record, text, buttons=False)
    _emit_wait(record, at)
    logger.info("approval rejected", extra={"approval_id": record.approval_id, "user": click.user})
    return "rejected"


AUDIT_PROBLEM = "audit: "


def _audit_before_delivery(gate: ApprovalGate, record: ApprovalRecord, user: str, decision: str, at: str) -> None:
    """The decision's audit row, before the decision is delivered; if the audit trail refuses it (throttled), the
    decision is not delivered either: the record says why, and the next click writes the row and delivers."""
    try:
        _audit_decision(gate, record, user, decision, at, complete=True)
    except TransientError as exc:
        gate.store.mark_delivery_failed(record.approval_id, f"{AUDIT_PROBLEM}{exc}")
        raise


def _approval_output(record: ApprovalRecord) -> dict[str, Any]:
    """SendTaskSuccess's output: who approved and when (the same on a resend)."""
    decisions = [{"user": d.user, "at": d.at} for d in record.decisions if d.decision == "approve"]
    return {"approved_by": list(record.approved_by), "decisions": decisions}


def _rejection_summary(record: ApprovalRecord, user: str, at: str) -> str:
    if record.codepipeline is not None:
        return f"Rejected in Slack by {user} at {at}"
    return f"Rejected by <@{user}> at {at}"


def _undelivered(
    gate: ApprovalGate, click: Click, record: ApprovalRecord, text: str, decision: str, exc: Exception
) -> str:
    """The decision is recorded but did not reach the release: keep the buttons, so a click sends it again."""
    problem = f"not delivered yet ({exc})"
    _replace(gate, click, record, f"{text}; {problem}: click again to resend it", buttons=True)
    _ephemeral(gate, click, f"Your decision is recorded but {problem}. Click either button again to resend it.")
    logger.warning("decision recorded but not delivered", extra={"approval_id": record.approval_id, "error": str(exc)})
    return f"{'approved' if decision == 'approve' else 'rejected'}:undelivered"


def _resend(gate: ApprovalGate, click: Click, record: ApprovalRecord) -> str:
    """A click on a decided record whose decision never reached the release: send the recorded decision again."""
    if not _allowed(gate, record, click.user):
        _ephemeral(gate, click, f"Refused: you are not an approver for {record.pipeline} → {record.environment}.")
        return "refused:not_allowed"
    approved = record.status == ApprovalStatus.APPROVED
    decided = [d for d in record.decisions if d.decision == ("approve" if approved else "rejected")]
    last = decided[-1] if decided else Decision(click.user, record.updated_at or "", "")
    if (record.delivery_problem or "").startswith(AUDIT_PROBLEM):
        _audit_before_delivery(gate, record, last.user, "approve" if approved else "reject", last.at)
    if approved:
        text = f":white_check_mark: Approved by {users_ref(list(record.approved_by))} at {last.at}"
        summary = f"Approved in Slack by {', '.join(record.approved_by)} at {last.at}"
    else:
        text = f":x: Rejected by <@{last.user}> at {last.at}"
        summary = _rejection_summary(record, last.user, last.at)
    try:
        deliver(gate, record, approved=approved, summary=summary, output=_approval_output(record))
    except TokenNoLongerValid as exc:
        _replace(gate, click, record, f"{text}, but it came too late: {exc}", buttons=False)
        _ephemeral(gate, click, f"Nothing to do: this approval was already {status_text(record)}, and {exc}.")
        return "refused:token_gone"
    except TransientError as exc:
        _ephemeral(gate, click, f"Still not delivered ({exc}); please click again in a moment.")
        return "refused:undelivered"
    _replace(gate, click, record, text, buttons=False)
    _ephemeral(gate, click, f"Delivered: this approval was {status_text(record)}; the release goes on.")
    _emit_wait(record, last.at)
    logger.info("undelivered decision sent again", extra={"approval_id": record.approval_id, "by": click.user})
    return "resent"


def _allowed(gate: ApprovalGate, record: ApprovalRecord, user: str) -> bool:
    if user in record.approvers_users:
        return True
    for group in record.approvers_groups:
        try:
            members = gate.slack.usergroup_members(group)
        except SlipwayError as exc:
            logger.warning("could not read a Slack user group", extra={"group": group, "problem": str(exc)})
            continue
        if user in members:
            return True
    return False


def _ephemeral(gate: ApprovalGate, click: Click, text: str) -> None:
    gate.slack.respond(click.response_url, {"response_type": "ephemeral", "replace_original": False, "text": text})


def _replace(gate: ApprovalGate, click: Click, record: ApprovalRecord, status: str, *, buttons: bool) -> None:
    text, blocks = message(record, status, buttons=buttons)
    gate.slack.respond(click.response_url, {"replace_original": True, "text": text, "blocks": blocks})


def _audit_decision(
    gate: ApprovalGate,
    record: ApprovalRecord,
    user: str,
    decision: str,
    at: str,
    *,
    complete: bool,
) -> None:
    if record.kind != "stepfunctions" or not record.release_id:
        return
    gate.audit.event(
        record.release_id,
        AuditKind.APPROVAL_DECISION,
        record.environment,
        approval_id=record.approval_id,
        user=user,
        decision=decision,
        at=at,
        complete=complete,
    )


def _emit_wait(record: ApprovalRecord, at: str) -> None:
    """``ApprovalWaitSeconds``: from the request to the decision that closed the approval."""
    try:
        waited = (datetime.fromisoformat(at) - datetime.fromisoformat(record.requested_at)).total_seconds()
    except (ValueError, TypeError):
        logger.warning("approval record without a usable requested_at", extra={"approval_id": record.approval_id})
        return
    emit(APPROVAL_WAIT_SECONDS, max(waited, 0.0))
