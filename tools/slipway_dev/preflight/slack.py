"""Slack: the stack's secret holds both keys, Slack accepts the bot token, the bot is in every channel it posts to
(``conversations.info``; a name is found with ``conversations.list``), and every approver (``users.info``) and
approver group (``usergroups.users.list``, the call approvals make) exists. The token is never shown."""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from slipway.adapters.slack import SlackSecrets
from slipway.errors import ConfigError
from slipway_dev.preflight import Account, Check, aws_refusal

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
SLACK_TIMEOUT_SECONDS = 10


def slack_checks(account: Account, stack: Any, selected: list[tuple[Any, Any]], pipelines: list[Any]) -> list[Check]:
    what = f"Slack secret {stack.slack_secret_arn or '(SlackSecretArn is empty)'} holds bot_token and signing_secret"
    try:
        value = account.client("secretsmanager").get_secret_value(SecretId=stack.slack_secret_arn)["SecretString"]
        secrets = SlackSecrets.from_value(json.loads(value), stack.slack_secret_arn)
    except ClientError as exc:
        return [Check(what, fix=aws_refusal(exc))]
    except (ValueError, ConfigError) as exc:
        problem = str(exc) if isinstance(exc, ConfigError) else "it is not a JSON object"
        return [Check(what, fix=f'{problem}: store {{"bot_token": "xoxb-…", "signing_secret": "…"}} there')]
    checks = [Check(what)]
    slack = _Slack(secrets.bot_token, stack.slack_api_url)
    reply = slack.call("auth.test")
    what = f"Slack ({stack.slack_api_url}) accepts the bot token"
    if not reply.get("ok"):
        return [*checks, Check(what, fix=_slack_fix(reply, "install the app and store its Bot User OAuth Token"))]
    checks.append(Check(f"{what} (@{reply.get('user', '?')} in {reply.get('team', '?')})"))
    for channel, why in _channels(selected, pipelines).items():
        checks.append(_channel_check(slack, channel, why))
    for user, why in _approvers(selected, "users").items():
        reply = slack.call("users.info", user=user)
        what = f"approver {user} is a Slack user ({why})"
        profile = reply.get("user") or {}
        if not reply.get("ok"):
            checks.append(Check(what, fix=_slack_fix(reply, "fix approval.approvers.users (a member id, U…)")))
        elif profile.get("deleted"):
            checks.append(Check(what, fix=f"@{profile.get('name')} is deactivated: name another approver"))
        else:
            checks.append(Check(f"approver {user} (@{profile.get('name', '?')}) is a Slack user ({why})"))
    for group, why in _approvers(selected, "groups").items():
        reply = slack.call("usergroups.users.list", usergroup=group)
        what = f"approver group {group} exists ({why})"
        if reply.get("ok"):
            checks.append(Check(f"{what}: {len(reply.get('users') or [])} member(s)"))
        else:
            checks.append(Check(what, fix=_slack_fix(reply, "fix approval.approvers.groups (a user group id, S…)")))
    return checks


class _Slack:
    """slack_sdk's WebClient, answering a dict with ``ok`` (Slack's refusals and transport errors alike)."""

    def __init__(self, token: str, base_url: str) -> None:
        from slack_sdk import WebClient

        self._web = WebClient(token=token, base_url=base_url, timeout=SLACK_TIMEOUT_SECONDS)
        self._names: dict[str, str] | None = None

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        from slack_sdk.errors import SlackApiError, SlackClientError

        try:
            response = self._web.api_call(method, http_verb="GET", params=params)
        except SlackApiError as exc:
            return dict(exc.response.data) if isinstance(exc.response.data, dict) else {"ok": False}
        except (SlackClientError, OSError) as exc:
            return {"ok": False, "error": f"unreachable ({type(exc).__name__})"}
        return dict(response.data) if isinstance(response.data, dict) else {"ok": False}

    def channel_id(self, name: str) -> str | None:
        """A channel's id by name (conversations.list: public channels, and private ones the bot is in)."""
        if self._names is None:
            self._names = {}
            cursor = ""
            while True:
                reply = self.call(
                    "conversations.list",
                    types="public_channel,private_channel",
                    exclude_archived="true",
                    limit=200,
                    cursor=cursor,
                )
                for channel in reply.get("channels") or []:
                    self._names[str(channel.get("name"))] = str(channel.get("id"))
                cursor = (reply.get("response_metadata") or {}).get("next_cursor") or ""
                if not reply.get("ok") or not cursor:
                    break
        return self._names.get(name)


def _slack_fix(reply: dict[str, Any], fix: str) -> str:
    error = reply.get("error", "unknown error")
    if error == "missing_scope":
        return f"the Slack app lacks the scope {reply.get('needed')}: add it (slack/manifest.yaml) and reinstall"
    return f"Slack answered {error}: {fix}"


def _channels(selected: list[tuple[Any, Any]], pipelines: list[Any]) -> dict[str, str]:
    """Channel -> why the bot posts there (approvals of an environment, release notices of a pipeline)."""
    why: dict[str, list[str]] = {}
    names = {p.name for p, _ in selected}
    for pipeline in pipelines:
        if pipeline.slack_channel and pipeline.name in names:
            why.setdefault(pipeline.slack_channel, []).append(f"release notices of {pipeline.name}")
    for pipeline, env in selected:
        channel = env.slack_channel or pipeline.slack_channel
        if env.needs_approval() and channel:
            why.setdefault(channel, []).append(f"approvals of {pipeline.name}/{env.name}")
    return {channel: ", ".join(reasons) for channel, reasons in why.items()}


def _approvers(selected: list[tuple[Any, Any]], kind: str) -> dict[str, str]:
    who: dict[str, list[str]] = {}
    for pipeline, env in selected:
        if env.needs_approval():
            for item in getattr(env.approval.approvers, kind):
                who.setdefault(item, []).append(f"{pipeline.name}/{env.name}")
    return {item: ", ".join(envs) for item, envs in who.items()}


def _channel_check(slack: _Slack, channel: str, why: str) -> Check:
    name = channel.lstrip("#")
    channel_id = channel if CHANNEL_ID.match(channel) else slack.channel_id(name)
    what = f"the bot can post to {channel} ({why})"
    if channel_id is None:
        return Check(
            what,
            fix=f"Slack has no channel {channel} the bot can see: create it or fix slack_channel (a private "
            "channel shows only once the bot is in it: /invite @slipway)",
        )
    reply = slack.call("conversations.info", channel=channel_id)
    info = reply.get("channel") or {}
    if not reply.get("ok"):
        return Check(what, fix=_slack_fix(reply, "fix slack_channel"))
    shown = f"#{info.get('name', name)} ({channel_id})"
    if info.get("is_archived"):
        return Check(what, fix=f"{shown} is archived: unarchive it or name another channel")
    if not info.get("is_member"):
        return Check(what, fix=f"the bot is not in {shown}: invite it (/invite @slipway in {shown})")
    return Check(f"the bot can post to {shown} ({why})")
