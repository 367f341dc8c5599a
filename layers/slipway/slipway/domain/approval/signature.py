"""Slack's request signature, checked before anything else is parsed. Standard library only (cold start).

``v0=`` + hex HMAC-SHA256 of ``v0:<timestamp>:<raw body>`` keyed with the signing secret, compared in constant
time, within 5 minutes of now (https://api.slack.com/authentication/verifying-requests-from-slack).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

SIGNATURE_VERSION = "v0"
MAX_REQUEST_AGE_SECONDS = 300


def slack_signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:<timestamp>:<raw body>`` keyed with the signing secret."""
    base = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify_slack_signature(
    signing_secret: str, timestamp: str | None, body: bytes, signature: str | None, *, now: float
) -> bool:
    """True only for a well-formed timestamp within 5 minutes of ``now`` and a matching signature.

    The comparison is ``hmac.compare_digest`` (constant time); nothing says why a request failed.
    """
    if not signing_secret or not timestamp or not signature:
        return False
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return False
    if abs(now - int(timestamp)) > MAX_REQUEST_AGE_SECONDS:
        return False
    if not signature.isascii():  # a hex signature is ASCII; anything else (lone surrogates included) is forged
        return False
    expected = slack_signature(signing_secret, timestamp, body).encode("ascii")
    return hmac.compare_digest(expected, signature.encode("ascii"))


@dataclass(frozen=True)
class HttpRequest:
    headers: dict[str, str]
    body: bytes


def read_http_event(event: object) -> HttpRequest | None:
    """API Gateway v2 (HTTP API) event -> lower-cased headers and the raw body bytes; None if unusable.

    A body that cannot be bytes Slack signed (base64 that does not decode, text holding lone surrogates that no
    UTF-8 encoder accepts) is unusable: the caller answers 401, as for any request Slack did not sign.
    """
    if not isinstance(event, dict):
        return None
    raw_headers = event.get("headers") or {}
    body = event.get("body")
    if not isinstance(raw_headers, dict) or not isinstance(body, str):
        return None
    headers = {str(k).lower(): str(v) for k, v in raw_headers.items()}
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except ValueError:
            return None
    else:
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError:
            return None
    return HttpRequest(headers=headers, body=data)


def http_response(status: int, body: str = "") -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "text/plain; charset=utf-8"}, "body": body}
