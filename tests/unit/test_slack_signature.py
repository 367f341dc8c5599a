"""Slack request signatures: Slack's own published example, and every way a request can fail the check."""

from __future__ import annotations

import json

import pytest

from slipway.domain.approval.signature import MAX_REQUEST_AGE_SECONDS, slack_signature, verify_slack_signature
from tests.support.paths import ROOT

VECTOR = ROOT / "tests" / "fixtures" / "slack" / "signing-example.json"
# Slack's example as published on api.slack.com ("Verifying requests from Slack"): the fixture file and the values
# named literally here must agree.
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TIMESTAMP = "1531420618"
BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
EXPECTED = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_the_fixture_is_slacks_example() -> None:
    vector = json.loads(VECTOR.read_text())
    assert (vector["signing_secret"], vector["timestamp"], vector["body"]) == (SECRET, TIMESTAMP, BODY)
    assert vector["expected_signature"] == EXPECTED


def test_slacks_published_example_verifies_with_the_clock_at_its_timestamp() -> None:
    assert slack_signature(SECRET, TIMESTAMP, BODY.encode()) == EXPECTED
    assert verify_slack_signature(SECRET, TIMESTAMP, BODY.encode(), EXPECTED, now=float(TIMESTAMP))


def test_the_example_is_valid_for_five_minutes_either_way_and_no_longer() -> None:
    stamp = int(TIMESTAMP)
    for now in (stamp - MAX_REQUEST_AGE_SECONDS, stamp + MAX_REQUEST_AGE_SECONDS):
        assert verify_slack_signature(SECRET, TIMESTAMP, BODY.encode(), EXPECTED, now=now)
    for now in (stamp - MAX_REQUEST_AGE_SECONDS - 1, stamp + MAX_REQUEST_AGE_SECONDS + 1, 1_900_000_000):
        assert not verify_slack_signature(SECRET, TIMESTAMP, BODY.encode(), EXPECTED, now=now)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "signature"),
    [
        ("another-secret", TIMESTAMP, BODY, EXPECTED),
        (SECRET, TIMESTAMP, BODY + "&x=1", EXPECTED),
        (SECRET, TIMESTAMP, BODY, EXPECTED.upper()),
        (SECRET, TIMESTAMP, BODY, EXPECTED[:-1]),
        (SECRET, TIMESTAMP, BODY, EXPECTED.replace("v0=", "v1=")),
        (SECRET, TIMESTAMP, BODY, EXPECTED.removeprefix("v0=")),
        (SECRET, TIMESTAMP, BODY, ""),
        (SECRET, TIMESTAMP, BODY, None),
        (SECRET, None, BODY, EXPECTED),
        (SECRET, "", BODY, EXPECTED),
        (SECRET, " 1531420618", BODY, EXPECTED),
        (SECRET, "1531420618.0", BODY, EXPECTED),
        (SECRET, "-1531420618", BODY, EXPECTED),
        (
            SECRET,
            "".join(chr(0xFF10 + int(d)) for d in TIMESTAMP),
            BODY,
            EXPECTED,
        ),  # full-width digits: isdigit() but not ASCII
        ("", TIMESTAMP, BODY, EXPECTED),
        (SECRET, TIMESTAMP, BODY, EXPECTED + "\udcff"),
    ],
)
def test_anything_else_fails(secret: str, timestamp: str | None, body: str, signature: str | None) -> None:
    assert not verify_slack_signature(secret, timestamp, body.encode(), signature, now=float(TIMESTAMP))
