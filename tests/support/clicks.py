"""A person clicking the newest approval message's button on a running LocalCloud (signed as Slack signs)."""

from __future__ import annotations

import json

from slipway_dev.local import interaction
from slipway_dev.local.cloud import LocalCloud


def click_latest(
    cloud: LocalCloud,
    decision: interaction.Decision = "approve",
    user: str = "U0APPROVER1",
    response_id: str = "approval",
    timeout: float = 15,
    release_id: str | None = None,
) -> int:
    """Wait for a message with approval buttons (of ``release_id``, if given), click ``decision`` on the newest;
    the HTTP status."""
    posts = cloud.wait_for(
        lambda: [
            m
            for m in cloud.slack_messages
            if interaction.approval_ids([m]) and (release_id is None or release_id in json.dumps(m.get("blocks")))
        ],
        timeout,
        f"the approval of {release_id or 'a release'}",
    )
    status, _ = interaction.click(
        messages=posts,
        approval_id=interaction.approval_ids(posts)[-1],
        decision=decision,
        user_id=user,
        interactivity_url=cloud.interactivity_url,
        signing_secret=cloud.signing_secret,
        response_url=cloud.slack.response_url(response_id),
    )
    return status
