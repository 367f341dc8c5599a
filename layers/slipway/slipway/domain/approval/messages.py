"""The approval messages in Slack (Block Kit): the summary, its status line and the buttons. Standard library only.

Buttons carry the approval id and nothing else (never the task token). The record keeps the summary blocks, so
every later update (pending count, approved, rejected, expired, void) rebuilds the same message with a new status.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from slipway.models.records import ApprovalRecord, ApprovalStatus

if TYPE_CHECKING:
    from slipway.models.config import ApprovalPolicy
    from slipway.models.records import EnvironmentResult
    from slipway.models.release import Plan, Release

APPROVE_ACTION = "slipway_approve"
REJECT_ACTION = "slipway_reject"
ACTIONS_BLOCK_ID = "slipway_approval_actions"
STATUS_BLOCK_ID = "slipway_approval_status"
MAX_DIFF_CHARS = 2600
EXPIRED_TEXT = ":hourglass: Expired: nobody approved in time. Nothing was deployed."


def fmt_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def escape(text: str) -> str:
    """Slack mrkdwn control characters in user-provided text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def user_ref(user: str | None) -> str:
    if not user:
        return "unknown"
    if re.fullmatch(r"[UW][A-Z0-9]{2,}", user):
        return f"<@{user}>"
    return escape(user)


def users_ref(users: list[str]) -> str:
    return ", ".join(user_ref(u) for u in users)


def approvers_text(users: list[str], groups: list[str], required: int) -> str:
    who = [f"<@{u}>" for u in users] + [f"<!subteam^{g}>" for g in groups]
    return f"{required} of {', '.join(who) if who else 'nobody configured'}"


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
    if block_id:
        block["block_id"] = block_id
    return block


def fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{label}*\n{value}"[:2000]} for label, value in pairs[:10]],
    }


def code(lines: list[str]) -> str:
    text = "\n".join(lines).replace("```", "'''")
    if len(text) > MAX_DIFF_CHARS:
        text = text[:MAX_DIFF_CHARS] + "\n… (truncated; run `slipway diff` for the full diff)"
    return f"```{escape(text)}```"


def action_blocks(approval_id: str) -> list[dict[str, Any]]:
    """The Approve / Reject buttons: their value is the approval id and nothing else."""
    return [
        {
            "type": "actions",
            "block_id": ACTIONS_BLOCK_ID,
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "text": {"type": "plain_text", "text": "Approve"},
                    "style": "primary",
                    "value": approval_id,
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Approve this deployment?"},
                        "text": {"type": "mrkdwn", "text": "The release continues as soon as enough people approve."},
                        "confirm": {"type": "plain_text", "text": "Approve"},
                        "deny": {"type": "plain_text", "text": "Cancel"},
                    },
                },
                {
                    "type": "button",
                    "action_id": REJECT_ACTION,
                    "text": {"type": "plain_text", "text": "Reject"},
                    "style": "danger",
                    "value": approval_id,
                },
            ],
        }
    ]


def release_blocks(
    *,
    release: Release,
    plan: Plan,
    environment: str,
    policy: ApprovalPolicy,
    expiry: datetime,
    earlier: list[tuple[str, EnvironmentResult | None]],
    approval_id: str,
    deploys_with: str,
    required: int | None = None,
    pushed_by: str | None = None,
    pusher_note: str | None = None,
) -> list[dict[str, Any]]:
    """The approval message for a release, without its buttons (the record keeps these blocks for updates).

    ``required``: the approvals this request needs (the policy's, or one more when the pusher is unknown);
    ``pushed_by``: who pushed, as the message shows it; ``pusher_note``: why more approvals are needed."""
    tags = ", ".join(f"`{escape(t)}`" for t in release.tags) or "none"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"Approve {release.pipeline} → {environment}?"[:150]},
        },
        fields(
            [
                ("Pipeline", f"`{escape(release.pipeline)}`"),
                ("Environment", f"`{escape(environment)}`"),
                ("Image", f"`{escape(release.repository)}@{release.digest}`"),
                ("Tags", tags),
                ("Commit", f"`{escape(release.commit)}`" if release.commit else "unknown"),
                ("Pushed by", pushed_by if pushed_by is not None else user_ref(release.pushed_by)),
                ("Deploys with", deploys_with),
                ("Expires", fmt_time(expiry)),
                (
                    "Approvals needed",
                    approvers_text(policy.approvers.users, policy.approvers.groups, required or policy.min_approvals),
                ),
            ]
        ),
    ]
    if pusher_note:
        blocks.append(section(pusher_note))
    if earlier:
        lines = []
        for name, result in earlier:
            if result is None:
                lines.append(f"• `{escape(name)}`: no result recorded")
                continue
            detail = [result.status]
            if result.deployment_id:
                detail.append(f"deployment {escape(result.deployment_id)}")
            if result.finished_at:
                detail.append(f"at {escape(result.finished_at)}")
            lines.append(f"• `{escape(name)}`: " + ", ".join(detail))
        blocks.append(section("*Earlier environments*\n" + "\n".join(lines)))
    if plan.scan_findings is not None:
        counts = " · ".join(f"{sev} {n}" for sev, n in plan.scan_findings.items()) or "no findings"
        blocks.append(section(f"*Image scan findings*: {escape(counts)}"))
    if plan.diff:
        blocks.append(section("*Changes against what runs now*\n" + code(plan.diff)))
    else:
        blocks.append(section("*Changes against what runs now*: none besides the image"))
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"release `{release.release_id}` · plan `{plan.plan_hash[:12]}` · approval `{approval_id}`",
                }
            ],
        }
    )
    return blocks


def status_block(text: str) -> dict[str, Any]:
    return section(text, block_id=STATUS_BLOCK_ID)


def message(record: ApprovalRecord, status_text: str, *, buttons: bool) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) of the record's message with ``status_text`` as its status line."""
    blocks: list[dict[str, Any]] = json.loads(record.summary_blocks or "[]")
    blocks.append(status_block(status_text))
    if buttons:
        blocks.extend(action_blocks(record.approval_id))
    return f"{record.title or 'Approval'}: {status_text}", blocks


def pending_text(record: ApprovalRecord) -> str:
    approved = record.approved_by
    required = record.required
    if not approved:
        return f":hourglass_flowing_sand: Waiting for {required} approval{'s' if required > 1 else ''}"
    return (
        f":hourglass_flowing_sand: Approved by {users_ref(approved)} ({len(approved)} of {required}); "
        f"waiting for {required - len(approved)} more"
    )


def status_text(record: ApprovalRecord) -> str:
    """How a decided record reads in an ephemeral reply: ``approved by <@U1> at ...``, ``expired``, ..."""
    status = record.status
    if status == ApprovalStatus.APPROVED:
        approvals = [d for d in record.decisions if d.decision == "approve"]
        at = approvals[-1].at if approvals else record.updated_at or ""
        return f"approved by {users_ref([d.user for d in approvals])} at {at}"
    if status == ApprovalStatus.REJECTED:
        rejects = [d for d in record.decisions if d.decision == "rejected"]
        who = users_ref([d.user for d in rejects]) if rejects else "someone"
        return f"rejected by {who}"
    if status == ApprovalStatus.EXPIRED:
        return "expired"
    if status in (ApprovalStatus.SUPERSEDED, ApprovalStatus.VOID):
        return f"void ({record.reason or 'superseded'})"
    return str(status).lower()
