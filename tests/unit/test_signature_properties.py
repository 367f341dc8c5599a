"""Property: no forged or mutated request gets past the callback's signature check (>= 1000 generated)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from slipway.domain.approval.decide import handle_interaction
from slipway.domain.approval.signature import slack_signature
from tests.support.clock import Clock
from tests.support.fakes import FakeGate

SECRET = "property-signing-secret-0123456789"
NOW = 1_900_000_000


class _Untouchable:
    """Anything past the signature check would call this and fail the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"an unauthenticated request reached {name}")


def _gate() -> FakeGate:
    never: Any = _Untouchable()
    return FakeGate(
        config_fn=never,
        clock=Clock(datetime.fromtimestamp(NOW, UTC)),
        store=never,
        slack=never,
        tasks=never,
        codepipeline=never,
        audit=never,
        secret=SECRET,
    )


GATE = _gate()
bodies = st.binary(min_size=0, max_size=300) | st.text(max_size=300).map(lambda t: ("payload=" + t).encode())
stamps = st.integers(min_value=NOW - 600, max_value=NOW + 600)


def _event(body: bytes, timestamp: str | None, signature: str | None, *, b64: bool) -> dict[str, Any]:
    headers: dict[str, str] = {"content-type": "application/x-www-form-urlencoded"}
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    if b64:
        return {"headers": headers, "body": base64.b64encode(body).decode(), "isBase64Encoded": True}
    return {"headers": headers, "body": body.decode("utf-8", "replace"), "isBase64Encoded": False}


MUTATIONS = [
    "flip_body_byte",
    "append_body",
    "truncate_body",
    "shift_timestamp",
    "stale_timestamp",
    "flip_signature_char",
    "wrong_secret",
    "drop_signature",
    "drop_timestamp",
    "random_signature",
    "other_version",
]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=bodies,
    stamp=stamps,
    mutation=st.sampled_from(MUTATIONS),
    position=st.integers(min_value=0, max_value=10_000),
    noise=st.binary(min_size=1, max_size=16),
    other_secret=st.text(min_size=1, max_size=40).filter(lambda s: s != SECRET),
    b64=st.booleans(),
)
def test_no_forged_or_mutated_request_is_accepted(
    body: bytes, stamp: int, mutation: str, position: int, noise: bytes, other_secret: str, b64: bool
) -> None:
    if not b64:  # a JSON-string body must be text: sign what API Gateway would deliver
        body = body.decode("utf-8", "replace").encode()
    timestamp = str(stamp)
    signature = slack_signature(SECRET, timestamp, body)
    sent_body, sent_stamp, sent_sig = body, timestamp, signature
    if mutation == "flip_body_byte":
        if body:
            i = position % len(body)
            flipped = bytes([body[i] ^ (noise[0] or 1)])
            sent_body = body[:i] + flipped + body[i + 1 :]
        else:
            sent_body = b"x"
    elif mutation == "append_body":
        sent_body = body + (noise if b64 else noise.hex().encode())
    elif mutation == "truncate_body":
        sent_body = body[: position % len(body)] if body else b"payload="
    elif mutation == "shift_timestamp":
        sent_stamp = str(stamp + 1 + position % 100)
    elif mutation == "stale_timestamp":
        sent_stamp = str(NOW - 301 - position)
        sent_sig = slack_signature(SECRET, sent_stamp, body)  # correctly signed, but too old
    elif mutation == "flip_signature_char":
        i = 3 + position % 64
        replacement = "0" if sent_sig[i] != "0" else "1"
        sent_sig = sent_sig[:i] + replacement + sent_sig[i + 1 :]
    elif mutation == "wrong_secret":
        sent_sig = slack_signature(other_secret, timestamp, body)
    elif mutation == "drop_signature":
        sent_sig = None  # type: ignore[assignment]
    elif mutation == "drop_timestamp":
        sent_stamp = None  # type: ignore[assignment]
    elif mutation == "random_signature":
        sent_sig = "v0=" + (noise * 4).hex()[:64]
    elif mutation == "other_version":
        sent_sig = "v1=" + signature[3:]
    if not b64:  # what API Gateway delivers as a JSON string
        sent_body = sent_body.decode("utf-8", "replace").encode()
    # A mutation that changed nothing forges nothing; assume() keeps such cases out of the 1000 counted examples.
    assume((sent_body, sent_stamp, sent_sig) != (body, timestamp, signature) or abs(NOW - stamp) > 300)
    answer = handle_interaction(GATE, _event(sent_body, sent_stamp, sent_sig, b64=b64))
    assert answer["statusCode"] == 401
    assert answer["body"] == ""


@settings(max_examples=200, deadline=None)
@given(body=st.text(max_size=200), stamp=st.integers(min_value=NOW - 300, max_value=NOW + 300))
def test_the_genuine_request_passes_the_check(body: str, stamp: int) -> None:
    """The control: unmodified signed requests are not refused with 401 (so the property above is meaningful)."""
    raw = ("payload=" + body).encode()
    answer = handle_interaction(GATE, _event(raw, str(stamp), slack_signature(SECRET, str(stamp), raw), b64=False))
    assert answer["statusCode"] in (200, 400)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.text(max_size=50),
    surrogate=st.integers(min_value=0xD800, max_value=0xDFFF).map(chr),
    stamp=st.integers(min_value=NOW - 300, max_value=NOW + 300),
)
def test_a_body_that_is_not_valid_utf8_is_refused_with_401(prefix: str, surrogate: str, stamp: int) -> None:
    """A JSON body holding a lone surrogate cannot be the bytes Slack signed: 401, never a crash (500)."""
    body = "payload=" + prefix + surrogate
    signed = slack_signature(SECRET, str(stamp), body.encode("utf-8", "surrogatepass"))
    event = {
        "headers": {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": signed},
        "body": body,
        "isBase64Encoded": False,
    }
    assert handle_interaction(GATE, event) == {
        "statusCode": 401,
        "headers": {"Content-Type": "text/plain; charset=utf-8"},
        "body": "",
    }


def test_a_signature_header_that_is_not_ascii_is_refused_with_401() -> None:
    raw = b"payload=%7B%7D"
    signed = slack_signature(SECRET, str(NOW), raw)
    for forged in (signed[:-1] + "\udc80", signed[:-1] + "\u0660", "\ud800" + signed[1:]):
        event = {
            "headers": {"X-Slack-Request-Timestamp": str(NOW), "X-Slack-Signature": forged},
            "body": raw.decode(),
            "isBase64Encoded": False,
        }
        assert handle_interaction(GATE, event)["statusCode"] == 401
