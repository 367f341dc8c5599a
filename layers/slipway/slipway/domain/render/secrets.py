"""Secret hygiene: which literal values in a task definition are plaintext secrets (values are never shown), and
how a value the rules flag is masked where a person reads it (the plan diff).

A value is checked by its shape (``VALUE_RULES``, high entropy) whatever its name, and by its name
(``secret_name_rule``, after Unicode normalisation). Every place a container carries literal text is read:
``environment``, ``command``, ``entryPoint``, ``healthCheck.command``, ``dockerLabels``, ``logConfiguration.options``
and ``environmentFiles``.
"""

from __future__ import annotations

import itertools
import math
import re
import shlex
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from slipway.domain.render.taskdef import containers

CREDENTIALS_IN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:[^\s/@]+@")
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
MASK = "•••"


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

# ---------------------------------------------------------------------------------------------- high entropy
# Runs of base64 / base64url characters, bounded by anything else (':', '.', '@', spaces split ARNs, image URIs, ...).
_TOKEN = re.compile(r"[A-Za-z0-9+/_\-]{32,}={0,2}")
_AWS_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])")
AWS_SECRET_KEY_MIN_BITS = 4.3
HIGH_ENTROPY_MIN_LENGTH = 32
CLASS_CHANGE_MIN = 0.45


def shannon_bits(text: str) -> float:
    """Shannon entropy of ``text``'s characters, in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _class_changes(text: str) -> float:
    """Share of neighbouring characters of different classes (upper, lower, digit, other): random text changes about
    two times in three, CamelCase words about one in three."""

    def kind(c: str) -> int:
        return 0 if c.isupper() else 1 if c.islower() else 2 if c.isdigit() else 3

    return sum(kind(a) != kind(b) for a, b in itertools.pairwise(text)) / max(len(text) - 1, 1)


def entropy_floor(length: int) -> float:
    """Bits per character a random base64 string of ``length`` has in at least ~99 % of cases (measured in
    tests/unit/test_secret_rules.py): a sample of n characters cannot exceed log2(n), and falls short of it more as
    n grows."""
    return math.log2(length) - (0.6 + 0.013 * length)


def _mixed(text: str) -> bool:
    return any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text)


def high_entropy_rule(value: str) -> str | None:
    """``aws-secret-key`` or ``high-entropy`` when ``value`` holds a random-looking secret, else None.

    Hex (digests, commit SHAs, UUIDs) has no upper case and at most 4 bits per character: never flagged. ARNs and
    image URIs are split at ':', '.' and '@' into short pieces. CamelCase identifiers change character class too
    rarely (``CLASS_CHANGE_MIN``).
    """
    for match in _AWS_SECRET_KEY.finditer(value):
        key = match.group()
        has_upper_and_lower = any(c.isupper() for c in key) and any(c.islower() for c in key)
        if has_upper_and_lower and shannon_bits(key) >= AWS_SECRET_KEY_MIN_BITS:
            return "aws-secret-key: an AWS secret access key (40 random base64 characters)"
    for match in _TOKEN.finditer(value):
        token = match.group().rstrip("=")
        if (
            len(token) >= HIGH_ENTROPY_MIN_LENGTH
            and _mixed(token)
            and shannon_bits(token) >= entropy_floor(len(token))
            and _class_changes(token) >= CLASS_CHANGE_MIN
        ):
            return "high-entropy: a long random-looking value (a key, a token or a base64 blob)"
    return None


# ---------------------------------------------------------------------------------------------- names
# Checked against the NAME (normalised, upper-cased words split on anything but letters and digits).
_NAME_SUBSTRINGS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL", "PRIVATEKEY")
_NAME_WORDS = frozenset({"PASS", "PWD", "PW", "AUTHORIZATION", "BEARER", "APIKEY", "DSN"})
_URL_NAME_SUFFIXES = frozenset({"URL", "URI", "ENDPOINT", "HOST", "ISSUER", "DOMAIN"})
_PATH_NAME_SUFFIXES = frozenset({"FILE", "PATH", "DIR", "FILENAME"})
_PATH = re.compile(r"^(?:/|\./|~/)\S*$")


def normalise_name(name: str) -> str:
    """What a name says, whatever its spelling: NFKC (full-width and compatibility forms become ASCII), casefold
    (``ß`` -> ``ss``), accents dropped, invisible format characters (zero-width spaces, ...) removed; upper case."""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if unicodedata.category(c) not in ("Mn", "Cf"))
    return text.upper()


def name_words(name: str) -> list[str]:
    return [w for w in re.split(r"[^A-Z0-9]+", normalise_name(name)) if w]


def secret_name_rule(name: str) -> str | None:
    """Why ``name`` looks like it holds a secret (e.g. ``name contains PASSWORD``), or None.

    ``KEY`` counts as a word or a word ending (API_KEY, APIKEY, RAILS_MASTER_KEY) but not ``PUBLIC`` keys nor key
    *ids* (``AWS_ACCESS_KEY_ID``, ``KMS_KEY_ID``): an id names a key, its value is checked by the value rules.
    """
    words = name_words(name)
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
    """Which rule says this literal value is a secret (``rule: description``), or None.

    Value shapes win over names. A name rule does not apply to an ARN (a reference, not the secret), to a plain URL
    without credentials under a ``*_URL`` / ``*_URI`` / ``*_ENDPOINT`` / ``*_HOST`` name (TOKEN_URL), nor to a path
    under a ``*_FILE`` / ``*_PATH`` / ``*_DIR`` name (DB_PASSWORD_FILE=/run/secrets/db: the file holds the secret).
    """
    for rule in VALUE_RULES:
        if rule.pattern.search(value):
            return f"{rule.rule}: {rule.description}"
    by_entropy = high_entropy_rule(value)
    if by_entropy:
        return by_entropy
    if value.startswith("arn:"):
        return None
    by_name = secret_name_rule(name)
    if by_name is None:
        return None
    words = name_words(name)
    if words and words[-1] in _URL_NAME_SUFFIXES and URL.match(value.strip()):
        return None
    if words and words[-1] in _PATH_NAME_SUFFIXES and _PATH.match(value.strip()):
        return None
    return f"secret-name: {by_name}"


def looks_secret(name: str) -> bool:
    return secret_name_rule(name) is not None


# ---------------------------------------------------------------------------------------------- commands
_FLAG = re.compile(r"^-{1,2}[A-Za-z0-9][\w.-]*$")
_ASSIGNMENT = re.compile(r"^(-{1,2}[A-Za-z0-9][\w.-]*|[A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)


def _words(arg: str) -> list[str]:
    """An argument as the shell would split it (``sh -c "PGPASSWORD=x psql"``, ``CMD-SHELL`` strings)."""
    if not any(c.isspace() for c in arg):
        return [arg]
    try:
        return shlex.split(arg)
    except ValueError:
        return arg.split()


@dataclass(frozen=True)
class Argument:
    """One word of a command: ``name`` when it carries a value for a flag or a variable (``--password=x``,
    ``--password x``, ``PGPASSWORD=x``), else None; ``value`` is what the rules check."""

    index: int  # position of the argument in the command list
    name: str | None
    value: str
    prefix: str  # what is shown before the value ("--password=", "" for a bare word)


def command_arguments(args: list[Any]) -> list[Argument]:
    """Every word of a command with the name it is given under, so the name rule applies to commands too: a flag
    names the next word (in the same string or the next list element), an assignment names its own value."""
    words = [(index, word) for index, arg in enumerate(args) if isinstance(arg, str) for word in _words(arg)]
    found: list[Argument] = []
    flag: str | None = None
    for index, word in words:
        assigned = _ASSIGNMENT.match(word)
        if assigned:
            found.append(Argument(index, assigned.group(1), assigned.group(2), f"{assigned.group(1)}="))
            flag = None
        elif _FLAG.match(word):
            found.append(Argument(index, None, word, ""))
            flag = word
        else:
            found.append(Argument(index, flag, word, ""))
            flag = None
    return found


def command_secrets(args: list[Any]) -> list[tuple[Argument, str]]:
    """The words of a command a rule flags, with the rule (never the value)."""
    found = []
    for argument in command_arguments(args):
        if not argument.value:
            continue
        why = secret_rule(argument.name or "", argument.value)
        if why is not None:
            found.append((argument, why))
    return found


def masked_command(args: list[Any]) -> str:
    """A command as the shell would show it, each value a rule flags replaced by ``•••`` (``--password=•••``)."""
    flagged = {(a.index, a.prefix, a.value) for a, _ in command_secrets(args)}
    shown: list[str] = []
    for argument in command_arguments(args):
        if (argument.index, argument.prefix, argument.value) in flagged:
            shown.append(shlex.quote(argument.prefix) + MASK if argument.prefix else MASK)
        else:
            shown.append(shlex.quote(argument.prefix + argument.value))
    return " ".join(shown)


# ---------------------------------------------------------------------------------------------- the task definition
S3_OBJECT_ARN = re.compile(r"^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+$")
COMMAND_FIELDS = (
    ("command", ("command",)),
    ("entryPoint", ("entryPoint",)),
    ("healthCheck.command", ("healthCheck", "command")),
)
VALUE_FROM = '{"name": "<NAME>", "valueFrom": "<Secrets Manager or SSM parameter ARN>"}'


def _at(container: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = container
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _literal_pairs(mapping: Any) -> Iterator[tuple[str, str]]:
    if isinstance(mapping, dict):
        for key, value in mapping.items():
            if isinstance(value, str) and value:
                yield str(key), value


def secret_problems(task_definition: dict[str, Any], allow_plaintext: list[str], where: str) -> list[str]:
    """A literal value a rule recognises as a secret is refused (see docs/rendering.md); the value is never shown.

    ``allow_plaintext`` names what may stay literal: a variable, label or log option name, a command's flag or
    variable name (``--password``, ``PGPASSWORD``), or a whole command field (``command``, ``entryPoint``,
    ``healthCheck.command``).
    """
    allowed = set(allow_plaintext)
    problems: list[str] = []
    for index, container in enumerate(containers(task_definition)):
        here = f"{where}: containerDefinitions[{index}]"
        who = f"container {container.get('name')!r}"
        for position, entry in enumerate(container.get("environment") or []):
            if not isinstance(entry, dict):
                continue
            name, value = str(entry.get("name", "")), entry.get("value")
            if not isinstance(value, str) or not value or name in allowed:
                continue
            why = secret_rule(name, value)
            if why is not None:
                problems.append(
                    f"{here}.environment[{position}]: {who}, variable {name}: rule {why}; it has a literal value: "
                    f'move it to containerDefinitions[{index}].secrets as {{"name": "{name}", "valueFrom": "<Secrets '
                    f'Manager or SSM parameter ARN>"}}, or list {name} under allow_plaintext'
                )
        for label, path in COMMAND_FIELDS:
            args = _at(container, path)
            if not isinstance(args, list) or label in allowed:
                continue
            for argument, why in command_secrets(args):
                if argument.name is not None and argument.name in allowed:
                    continue
                what = f"the value of {argument.name}" if argument.name else "an argument"
                problems.append(
                    f"{here}.{label}[{argument.index}]: {who}, {what}: rule {why}; a command holds it literally: give "
                    f"it to the container through containerDefinitions[{index}].secrets ({VALUE_FROM}) and use "
                    f"$<NAME> in the command, or list {argument.name or label} under allow_plaintext"
                )
        for name, value in _literal_pairs(container.get("dockerLabels")):
            why = None if name in allowed else secret_rule(name, value)
            if why is not None:
                problems.append(
                    f"{here}.dockerLabels.{name}: {who}: rule {why}; labels are readable by anyone who may describe "
                    f"the task or container: remove it (pass it through containerDefinitions[{index}].secrets), or "
                    f"list {name} under allow_plaintext"
                )
        for name, value in _literal_pairs(_at(container, ("logConfiguration", "options"))):
            why = None if name in allowed else secret_rule(name, value)
            if why is not None:
                problems.append(
                    f"{here}.logConfiguration.options.{name}: {who}: rule {why}; move it to "
                    f'containerDefinitions[{index}].logConfiguration.secretOptions as {{"name": "{name}", '
                    f'"valueFrom": "<Secrets Manager or SSM parameter ARN>"}}, or list {name} under allow_plaintext'
                )
        for position, entry in enumerate(container.get("environmentFiles") or []):
            value = entry.get("value") if isinstance(entry, dict) else None
            if isinstance(value, str) and not S3_OBJECT_ARN.match(value.strip()):
                problems.append(
                    f"{here}.environmentFiles[{position}]: {who}: the value is not the ARN of an S3 object: an "
                    "environment file is named by its ARN (arn:aws:s3:::bucket/app.env) and read by the ECS agent at "
                    "task start; put the variables in that file, or secret ones in secrets, never in the task "
                    "definition itself"
                )
    return problems
