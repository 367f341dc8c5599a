"""The Slack side of `slipway local demo`: which recorded messages belong to the release being followed (a new
message naming its id, image tag or digest; the replies in its thread; the updates of and replies to its messages),
each shown once as plain lines in its channel's
``#name``; a later update or reply to a message already shown prints only the lines that changed (the approval's
new status, say)."""

from __future__ import annotations

import json
import re
from typing import Any

from slipway_dev.local.interaction import approval_ids as button_values

MIN_TAG_MARKER = 7  # a tag shorter than this ("latest") would match other releases' messages too


def mrkdwn_to_text(text: str) -> str:
    """Slack mrkdwn, readable in a terminal."""
    text = re.sub(r"<@([A-Z0-9]+)>", r"@\1", text)
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    return text.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&").replace("```", "")


def render_message(message: dict[str, Any]) -> list[str]:
    """A Block Kit message as plain lines: headers, fields, sections, context and [buttons]."""
    lines: list[str] = []
    for block in message.get("blocks") or []:
        kind = block.get("type")
        text = (block.get("text") or {}).get("text", "")
        if kind == "header":
            lines.append(f"== {text} ==")
        elif kind == "section":
            if text:
                lines += mrkdwn_to_text(text).splitlines()
            for item in block.get("fields") or []:
                lines.append("  " + mrkdwn_to_text(item.get("text", "")).replace("\n", ": ", 1))
        elif kind == "context":
            lines.append(" · ".join(mrkdwn_to_text(e.get("text", "")) for e in block.get("elements") or []))
        elif kind == "actions":
            lines.append("   ".join(f"[ {e.get('text', {}).get('text', '?')} ]" for e in block.get("elements") or []))
        elif kind == "divider":
            lines.append("-" * 40)
    return lines or mrkdwn_to_text(str(message.get("text") or "")).splitlines()


class SlackTimeline:
    """Follows the fake Slack's recorded calls (``GET /messages``) for one release."""

    def __init__(self, skip: int = 0) -> None:
        self._next = skip  # records before the release are not looked at
        self._markers: list[str] = []
        self._names: dict[str, str] = {}  # channel id -> the name it was posted to
        self._threads: set[str] = set()  # ts of this release's messages: replies in their threads are ours
        self._shown: dict[tuple[str, str], list[str]] = {}  # (channel, ts) -> the lines shown
        self._approvals: dict[str, tuple[str, str]] = {}  # approval id -> its message's key

    def follow_release(self, release_id: str, tag: str, digest: str) -> None:
        short = digest.removeprefix("sha256:")[:12]
        self._markers = [release_id, short, *([tag] if len(tag) >= MIN_TAG_MARKER else [])]

    def approval_ids(self) -> list[str]:
        return list(self._approvals)

    def new_entries(self, messages: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
        """(heading, lines) for each new record of this release; nothing for an update that changes nothing."""
        entries = []
        for message in messages:
            self._learn_name(message)
        for message in messages[self._next :]:
            if not self._ours(message):
                continue
            entry = self._entry(message)
            if entry is not None:
                entries.append(entry)
        self._next = max(self._next, len(messages))
        return entries

    def _learn_name(self, message: dict[str, Any]) -> None:
        channel, name = message.get("channel"), message.get("channel_name")
        if channel and name and name != channel:
            self._names[str(channel)] = str(name) if str(name).startswith("#") else f"#{name}"

    def _where(self, channel: Any) -> str:
        return self._names.get(str(channel), str(channel))

    def _ours(self, message: dict[str, Any]) -> bool:
        """A reply or an update belongs to what it replies to or updates (another release's notice may name this
        one: "superseded by ..."); a new message belongs to this release when it names it (id, digest or tag)."""
        method = message.get("method")
        if method == "response_url":
            return str(message.get("response_id")) in self._approvals
        if method == "chat.update":
            return (str(message.get("channel")), str(message.get("ts"))) in self._shown
        if message.get("thread_ts"):
            return message["thread_ts"] in self._threads
        blob = json.dumps([message.get("text"), message.get("blocks")])
        return any(marker in blob for marker in self._markers)

    def _entry(self, message: dict[str, Any]) -> tuple[str, list[str]] | None:
        method = message.get("method")
        payload = message.get("payload") or {}
        lines = render_message(message)
        if method == "response_url" and payload.get("response_type") == "ephemeral":
            return "Slack reply only the clicker sees:", lines
        key = (
            self._approvals[str(message.get("response_id"))]
            if method == "response_url"
            else (str(message.get("channel")), str(message.get("ts")))
        )
        before = self._shown.get(key)
        self._shown[key] = lines
        if before is not None:  # an update of a message shown already: only what changed
            seen = set(before)
            changed = [line for line in lines if line not in seen]
            title = before[0].strip("= ") if before else "it"
            return (f"Slack update in {self._where(key[0])} of “{title}”:", changed) if changed else None
        self._threads.add(key[1])
        for approval_id in button_values([message]):
            self._approvals.setdefault(approval_id, key)
        reply = " (thread reply)" if message.get("thread_ts") else ""
        return f"Slack message in {self._where(key[0])}{reply}:", lines
