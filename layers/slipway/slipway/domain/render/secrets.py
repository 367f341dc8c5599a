"""Secret hygiene: which literal values in a task definition are plaintext secrets (values are never shown)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from slipway.domain.render.taskdef import containers

CREDENTIALS_IN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:[^\s/@]+@")
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")


@dataclass(frozen=True)
class SecretRule:
    """One way a plaintext secret is recognised: ``rule`` is the short id printed in problems (never the value)."""

    rule: str
    description: str
    pattern: re.Pattern[str]


# Checked against every literal VALUE, whatever its name: these shapes are credentials on their own.
VALUE_RULES = (
    SecretRule("private-key", "a PEM private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")),
    SecretRule("aws-access-key", "an AWS access key id (AKIA/ASIA...)", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    SecretRule(
        "github-token",
        "a GitHub token (ghp_/gho_/ghu_/ghs_/ghr_/github_pat_)",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    ),
    SecretRule("slack-token", "a Slack token (xoxb-/xoxp-/...)", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{8,}")),
    SecretRule("stripe-live-key", "a Stripe live key (sk_live_/rk_live_)", re.compile(r"\b[sr]k_live_[A-Za-z0-9]{8,}")),
    SecretRule(
        "webhook-url",
        "a webhook URL (the URL itself is the credential)",
        re.compile(
            r"https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)/|(?:[\w-]+\.)*discord(?:app)?\.com/api/webhooks/"
            r"|[\w-]+\.webhook\.office\.com/|outlook\.office\.com/webhook/)",
            re.IGNORECASE,
        ),
    ),
    SecretRule(
        "authorization-header",
        "an Authorization header value (Bearer/Basic/Token ...)",
        re.compile(r"^\s*(?:Bearer|Basic|Token)\s+\S{6,}", re.IGNORECASE),
    ),
    SecretRule("url-password", "credentials in a URL (user:password@)", CREDENTIALS_IN_URL),
    SecretRule(
        "url-key",
        "credentials in a URL (a key as the user part, e.g. a DSN https://key@host/1)",
        re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9_-]{16,}@"),
    ),
)

# Checked against the NAME (upper-cased words split on anything but letters and digits).
_NAME_SUBSTRINGS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL", "PRIVATEKEY")
_NAME_WORDS = frozenset({"PASS", "PWD", "PW", "AUTHORIZATION", "BEARER", "APIKEY", "DSN"})
_URL_NAME_SUFFIXES = frozenset({"URL", "URI", "ENDPOINT", "HOST", "ISSUER", "DOMAIN"})


def secret_name_rule(name: str) -> str | None:
    """Why ``name`` looks like it holds a secret (e.g. ``name contains PASSWORD``), or None.

    ``KEY`` counts as a word or a word ending (API_KEY, APIKEY, RAILS_MASTER_KEY) but not ``PUBLIC`` keys nor key
    *ids* (``AWS_ACCESS_KEY_ID``, ``KMS_KEY_ID``): an id names a key, its value is checked by the value rules.
    """
    words = [w for w in re.split(r"[^A-Z0-9]+", name.upper()) if w]
    if "PUBLIC" in words or "PUB" in words:
        return None
    joined = "".join(words)
    for needle in _NAME_SUBSTRINGS:
        if needle in joined:
            return f"name contains {needle}"
    for position, word in enumerate(words):
        if word in _NAME_WORDS:
            return f"name has the word {word}"
        if word.endswith("KEY") and (position + 1 == len(words) or words[position + 1] != "ID"):
            return f"name has the word {word}"
    return None


def secret_rule(name: str, value: str) -> str | None:
    """Which rule says this literal environment value is a secret (``rule: description``), or None.

    Value shapes win over names. A name rule does not apply to an ARN (a reference, not the secret), nor to a
    plain URL without credentials under a ``*_URL`` / ``*_URI`` / ``*_ENDPOINT`` / ``*_HOST`` name (TOKEN_URL).
    """
    for rule in VALUE_RULES:
        if rule.pattern.search(value):
            return f"{rule.rule}: {rule.description}"
    if value.startswith("arn:"):
        return None
    by_name = secret_name_rule(name)
    if by_name is None:
        return None
    words = [w for w in re.split(r"[^A-Z0-9]+", name.upper()) if w]
    if words and words[-1] in _URL_NAME_SUFFIXES and URL.match(value.strip()):
        return None
    return f"secret-name: {by_name}"


def looks_secret(name: str) -> bool:
    return secret_name_rule(name) is not None


def secret_problems(task_definition: dict[str, Any], allow_plaintext: list[str], where: str) -> list[str]:
    """A literal value a rule recognises as a secret is refused (see docs/rendering.md); the value is never shown."""
    problems = []
    for index, container in enumerate(containers(task_definition)):
        for position, entry in enumerate(container.get("environment") or []):
            if not isinstance(entry, dict):
                continue
            name, value = str(entry.get("name", "")), entry.get("value")
            if not isinstance(value, str) or not value or name in allow_plaintext:
                continue
            why = secret_rule(name, value)
            if why is None:
                continue
            problems.append(
                f"{where}: containerDefinitions[{index}].environment[{position}]: container "
                f"{container.get('name')!r}, variable {name}: rule {why}; it has a literal value: move it to "
                f'containerDefinitions[{index}].secrets as {{"name": "{name}", "valueFrom": "<Secrets Manager or '
                f'SSM parameter ARN>"}}, or list {name} under allow_plaintext'
            )
    return problems
