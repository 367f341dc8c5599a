"""A person clicking Approve/Reject in Slack, locally: the signed ``block_actions`` request Slack would send.

Slack signs ``v0:<timestamp>:<raw body>`` with the app's signing secret (HMAC-SHA256, hex, prefixed ``v0=``) and
posts ``payload=<url-encoded JSON>`` as ``application/x-www-form-urlencoded`` to the interactivity URL.
The button is copied from the posted message (its ``action_id``, ``block_id`` and ``value``), so the request is
exactly what a click on that message would produce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

from slipway_dev.local.base import LocalCloudError
from slipway_dev.local.events import HTTP_API_SAMPLE, http_api_event, sample_event

Decision = Literal["approve", "reject"]


class ButtonNotFound(LookupError):
    """No posted Slack message has a button for this approval id and decision."""


def slack_signature(signing_secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Button:
    message: dict[str, Any]
    block_id: str
    element: dict[str, Any]


def _buttons(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for block in message.get("blocks") or []:
        if not isinstance(block, dict):
            continue
        elements = block.get("elements") or []
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            elements = [*elements, accessory]
        for element in elements:
            if isinstance(element, dict) and element.get("type") == "button":
                found.append((str(block.get("block_id", "")), element))
    return found


def _is(decision: Decision, element: dict[str, Any]) -> bool:
    action_id = str(element.get("action_id", "")).lower()
    if decision in action_id:
        return True
    style = {"approve": "primary", "reject": "danger"}[decision]
    return element.get("style") == style and not any(d in action_id for d in ("approve", "reject"))


def find_button(messages: list[dict[str, Any]], approval_id: str, decision: Decision) -> Button:
    """The newest message's button whose value is (or names) the approval id."""
    for message in reversed(messages):
        for block_id, element in _buttons(message):
            value = str(element.get("value", ""))
            if (value == approval_id or approval_id in value) and _is(decision, element):
                return Button(message=message, block_id=block_id, element=element)
    raise ButtonNotFound(f"no Slack message has a {decision} button for approval {approval_id!r}")


def approval_ids(messages: list[dict[str, Any]]) -> list[str]:
    """Button values of posted messages, newest last (without duplicates)."""
    seen: list[str] = []
    for message in messages:
        for _, element in _buttons(message):
            value = str(element.get("value", ""))
            if value and value not in seen:
                seen.append(value)
    return seen


def refusal(messages: list[dict[str, Any]], approval_id: str) -> str | None:
    """The text of slipway's ephemeral reply to a click on this approval (a refused click), if ``messages`` (the
    records since the click) hold one; a decision replaces the message instead."""
    for message in messages:
        payload = message.get("payload") or {}
        if (
            message.get("method") == "response_url"
            and message.get("response_id") == approval_id
            and payload.get("response_type") == "ephemeral"
        ):
            return str(payload.get("text") or "refused")
    return None


def sample_block_actions() -> dict[str, Any]:
    """The ``block_actions`` payload ``events/slack-block-actions.json`` carries (its form body's ``payload`` field)."""
    event = sample_event(HTTP_API_SAMPLE)
    body = base64.b64decode(event["body"]).decode("utf-8") if event.get("isBase64Encoded") else event["body"]
    payload = json.loads(parse_qs(body, strict_parsing=True)["payload"][-1])
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise LocalCloudError(f"events/{HTTP_API_SAMPLE}: the body's payload is not a block_actions interaction")
    return payload


def block_actions_payload(button: Button, user_id: str, response_url: str, team_id: str = "T0LOCAL") -> dict[str, Any]:
    """A click on ``button`` by ``user_id``: the sample's payload (``sample_block_actions``) with the local
    workspace and app, this message's channel and ``ts``, and this button's fields."""
    message = button.message
    channel = message.get("channel") or "C0LOCAL"
    payload = sample_block_actions()
    payload.update(
        api_app_id="A0LOCAL",
        token="local-verification-token",  # noqa: S106 - Slack's deprecated verification token, unused
        trigger_id=f"{int(time.time())}.{uuid.uuid4().hex[:12]}",
        response_url=response_url,
    )
    payload["user"].update(id=user_id, username=user_id.lower(), name=user_id.lower(), team_id=team_id)
    payload["team"].update(id=team_id, domain="slipway-local")
    payload["container"].update(message_ts=message.get("ts"), channel_id=channel)
    payload["channel"].update(id=channel, name=str(channel).lstrip("#"))
    payload["message"].update(ts=message.get("ts"), text=message.get("text"), blocks=message.get("blocks"))
    action = payload["actions"][0]
    action.update(
        action_id=button.element.get("action_id"),
        block_id=button.block_id,
        value=button.element.get("value"),
        text=button.element.get("text"),
        style=button.element.get("style"),
        action_ts=f"{time.time():.6f}",
    )
    payload["actions"] = [action]
    return payload


def signed_request(
    payload: dict[str, Any], signing_secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))})
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": slack_signature(signing_secret, stamp, body),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    return body.encode("utf-8"), headers


def signed_event(payload: dict[str, Any], signing_secret: str, interactivity_url: str) -> dict[str, Any]:
    """The signed request as the API Gateway (HTTP API) event the function receives: what
    ``events/slack-block-actions.json`` is, signed now, so ``sam local invoke -e`` exercises the decision path."""
    body, headers = signed_request(payload, signing_secret)
    url = urlsplit(interactivity_url)
    lowered = {name.lower(): value for name, value in headers.items()}
    lowered.update({"host": url.netloc, "content-length": str(len(body))})
    return http_api_event(
        method="POST",
        path=url.path,
        query="",
        headers=lowered,
        body=body,
        route_key=f"POST {url.path}",
        api_id="local",
    )


def post_interaction(url: str, payload: dict[str, Any], signing_secret: str, timeout: float = 30.0) -> tuple[int, str]:
    """POST the signed interaction; returns (HTTP status, body)."""
    body, headers = signed_request(payload, signing_secret)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - loopback URL
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode("utf-8")


def click(
    *,
    messages: list[dict[str, Any]],
    approval_id: str,
    decision: Decision,
    user_id: str,
    interactivity_url: str,
    signing_secret: str,
    response_url: str,
    timeout: float = 30.0,
) -> tuple[int, str]:
    """Find the button on the posted message and send the click Slack would send."""
    button = find_button(messages, approval_id, decision)
    payload = block_actions_payload(button, user_id, response_url)
    return post_interaction(interactivity_url, payload, signing_secret, timeout=timeout)
