"""Slack: the Web API through slack_sdk's WebClient, response_url replies, and the app's secrets.

The bot token and the signing secret live in one Secrets Manager secret (``{"bot_token": ..., "signing_secret":
..., "team_id": "T...", "app_id": "A..."}``; the two ids are optional pins: when present, a click from another
workspace or app is refused), read through Powertools parameters with caching. Neither value is ever logged:
``SlackSecrets`` hides them from ``repr``, slack_sdk sends the token in a header it redacts from its own debug log,
and errors name the missing key, never a value.

The base URL is ``settings.slack_api_url`` so tests and the local cloud point every call at
the fake Slack of the embedded local cloud (``slipway_dev.local.fake_slack``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from slipway.errors import ConfigError, TransientError

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from slipway.settings import Settings

SECRET_MAX_AGE_SECONDS = 300
GROUP_CACHE_SECONDS = 300.0
# Slack wants an answer to an interaction within 3 s: a reply that takes longer is not worth waiting for.
RESPONSE_URL_TIMEOUT_SECONDS = 2
WEB_API_TIMEOUT_SECONDS = 10
SLACK_RESPONSE_HOSTS = ("hooks.slack.com",)

# slack_sdk logs request bodies at DEBUG; keep its loggers at INFO whatever the function's log level is.
_sdk_logger = logging.getLogger("slipway.slack_sdk")
_sdk_logger.setLevel(logging.INFO)


# The optional pins: Slack's team (workspace) id and app id, as Slack writes them into every interaction payload.
PIN_PATTERNS = {"team_id": re.compile(r"[TE][A-Z0-9]{2,}"), "app_id": re.compile(r"A[A-Z0-9]{2,}")}


@dataclass(frozen=True)
class SlackSecrets:
    """The Slack app's credentials (``repr`` never shows them) and the optional team and app pins."""

    bot_token: str = field(repr=False)
    signing_secret: str = field(repr=False)
    team_id: str | None = None
    app_id: str | None = None

    @classmethod
    def from_value(cls, value: object, where: str) -> SlackSecrets:
        if not isinstance(value, dict):
            raise ConfigError(f"Slack secret {where} must be a JSON object with bot_token and signing_secret")
        missing = [k for k in ("bot_token", "signing_secret") if not isinstance(value.get(k), str) or not value[k]]
        if missing:
            raise ConfigError(f"Slack secret {where} lacks a non-empty {' and '.join(missing)}")
        pins: dict[str, str | None] = {}
        for key, pattern in PIN_PATTERNS.items():
            pin = value.get(key)
            if pin is not None and (not isinstance(pin, str) or not pattern.fullmatch(pin)):
                raise ConfigError(
                    f"Slack secret {where}: {key} must be Slack's id ({pattern.pattern}, e.g. from the app's "
                    "Basic Information page), or be left out"
                )
            pins[key] = pin
        return cls(bot_token=value["bot_token"], signing_secret=value["signing_secret"], **pins)


def slack_secrets(settings: Settings, provider: Any, max_age: int = SECRET_MAX_AGE_SECONDS) -> SlackSecrets:
    """Read (and cache for ``max_age`` seconds) the Slack secret named by ``settings.slack_secret_arn``, through
    ``provider`` (a Powertools ``SecretsProvider``: its cache is the execution environment's)."""
    from aws_lambda_powertools.utilities import parameters

    # botocore logs whole response bodies (the SecretString) at DEBUG: never let it, whatever the root level.
    for name in ("botocore.parsers", "botocore.endpoint"):
        if logging.getLogger(name).getEffectiveLevel() < logging.INFO:
            logging.getLogger(name).setLevel(logging.INFO)
    try:
        value = provider.get(settings.slack_secret_arn, transform="json", max_age=max_age)
    except parameters.exceptions.TransformParameterError:
        raise ConfigError(f"Slack secret {settings.slack_secret_arn} is not valid JSON") from None
    return SlackSecrets.from_value(value, settings.slack_secret_arn)


class SlackError(TransientError):
    """Slack refused or could not be reached; the message names the method and Slack's error code only."""


class SlackUnavailable(SlackError):
    """Slack could not be reached, timed out, answered 5xx or asked to slow down: an outage worth waiting through.
    The state machine retries RequestApproval on it with a long backoff (statemachine/release.asl.json); any other
    ``SlackError`` (channel_not_found, not_in_channel, invalid_auth, ...) needs a person and fails at once."""


# Slack's error codes that mean "not now" rather than "not like this".
UNAVAILABLE_ERRORS = frozenset(
    {"ratelimited", "fatal_error", "internal_error", "service_unavailable", "request_timeout", "team_not_ready"}
)


def _status_of(response: Any) -> int | None:
    status = getattr(response, "status_code", None)
    if status is None and isinstance(response, dict):
        status = response.get("status")
    return status if isinstance(status, int) else None


def _error_of(response: Any) -> str:
    try:
        return str(response.get("error", "unknown error"))
    except (AttributeError, TypeError, ValueError):
        return "unknown error"


class SlackClient:
    """The few Slack calls slipway makes. Methods raise ``SlackError``; ``respond`` never raises."""

    def __init__(self, token: str, base_url: str, *, web_client: WebClient | None = None) -> None:
        if not base_url.endswith("/"):
            base_url += "/"
        self.base_url = base_url
        if web_client is None:
            from slack_sdk import WebClient

            web_client = WebClient(token=token, base_url=base_url, timeout=WEB_API_TIMEOUT_SECONDS, logger=_sdk_logger)
        self._web = web_client
        self._groups: dict[str, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        from slack_sdk.errors import SlackApiError, SlackClientError

        try:
            if method == "usergroups.users.list":  # a read method: form/query parameters, not JSON
                response = self._web.api_call(method, http_verb="GET", params=kwargs)
            else:
                response = self._web.api_call(method, json=kwargs)
        except SlackApiError as exc:
            error, status = _error_of(exc.response), _status_of(exc.response)
            unavailable = error in UNAVAILABLE_ERRORS or (status is not None and (status == 429 or status >= 500))
            kind = SlackUnavailable if unavailable else SlackError
            raise kind(f"Slack {method} failed: {error}" + (f" (HTTP {status})" if unavailable else "")) from None
        except (SlackClientError, OSError, ValueError) as exc:
            raise SlackUnavailable(f"Slack {method} could not be reached: {type(exc).__name__}") from None
        data: dict[str, Any] = dict(response.data) if isinstance(response.data, dict) else {}
        return data

    def post_message(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, thread_ts: str | None = None
    ) -> str:
        """chat.postMessage; returns the message ts."""
        args: dict[str, Any] = {"channel": channel, "text": text}
        if blocks is not None:
            args["blocks"] = blocks
        if thread_ts is not None:
            args["thread_ts"] = thread_ts
        data = self._call("chat.postMessage", **args)
        return str(data["ts"])

    def post_message_in(self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None) -> tuple[str, str]:
        """chat.postMessage; returns (channel id as Slack reports it, ts): chat.update needs the id, not #name."""
        args: dict[str, Any] = {"channel": channel, "text": text}
        if blocks is not None:
            args["blocks"] = blocks
        data = self._call("chat.postMessage", **args)
        return str(data.get("channel") or channel), str(data["ts"])

    def update_message(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        args: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        if blocks is not None:
            args["blocks"] = blocks
        self._call("chat.update", **args)

    def respond(self, response_url: str, payload: dict[str, Any]) -> None:
        """POST to an interaction's response_url. Logged and dropped on failure: the decision is already stored."""
        from urllib.error import URLError
        from urllib.request import Request, urlopen

        from slipway.observability import logger

        if not response_url_allowed(response_url, self.base_url):
            logger.warning("response_url refused: not a Slack host", extra={"host": urlsplit(response_url).hostname})
            return
        request = Request(  # noqa: S310 - the scheme and host were checked above
            response_url,
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            method="POST",
        )
        try:
            with urlopen(request, timeout=RESPONSE_URL_TIMEOUT_SECONDS) as reply:  # noqa: S310
                reply.read()
        except (URLError, OSError) as exc:
            logger.warning("Slack response_url post failed", extra={"error": type(exc).__name__})

    def usergroup_members(self, group_id: str) -> list[str]:
        """usergroups.users.list, cached for a few minutes per warm function."""
        now = time.monotonic()
        with self._lock:
            cached = self._groups.get(group_id)
            if cached and now - cached[0] < GROUP_CACHE_SECONDS:
                return cached[1]
        data = self._call("usergroups.users.list", usergroup=group_id)
        users = [str(u) for u in data.get("users", [])]
        with self._lock:
            self._groups[group_id] = (now, users)
        return users


def response_url_allowed(url: str, api_base_url: str) -> bool:
    """Replies go only to Slack (https://hooks.slack.com) or to the host the Web API is configured at."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname in SLACK_RESPONSE_HOSTS:
        return True
    api = urlsplit(api_base_url)
    return bool(parts.scheme == api.scheme and parts.netloc == api.netloc and parts.netloc)


_clients: dict[tuple[str, str], SlackClient] = {}


def slack_client(settings: Settings, provider: Any) -> SlackClient:
    """The SlackClient for this function: token from Secrets Manager (cached), base URL from settings.

    One client per (base URL, token): a rotated token gets a new client once the secret cache expires.
    """
    secrets = slack_secrets(settings, provider)
    key = (settings.slack_api_url, secrets.bot_token)
    client = _clients.get(key)
    if client is None:
        client = SlackClient(secrets.bot_token, settings.slack_api_url)
        _clients.clear()
        _clients[key] = client
    return client
