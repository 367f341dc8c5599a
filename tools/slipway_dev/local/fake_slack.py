"""A fake Slack Web API over real HTTP on 127.0.0.1 (or the local cloud's --host), for tests and the local cloud.

Real slack_sdk WebClient calls reach it unchanged (``SLIPWAY_SLACK_API_URL = fake.base_url``). It answers in
Slack's shapes and records what it was sent:

- ``POST /api/chat.postMessage``, ``POST /api/chat.update``  -> ``{"ok": true, "ts": ..., "channel": ...}``
  (``not_in_channel`` in a channel the bot is not a member of)
- ``GET|POST /api/usergroups.users.list?usergroup=S..``       -> ``{"ok": true, "users": [...]}`` (see ``usergroups``)
- ``auth.test``, ``conversations.list``, ``conversations.info?channel=C..``, ``users.info?user=U..`` -> Slack's
  shapes over ``channels`` (``add_channel(name, member=False)`` makes one the bot is not in) and ``users``
  (``add_user``); a channel first posted to by name is created with the bot in it, as an invited bot would be
- ``POST /response/<id>``                                   -> a response_url reply (``fake.response_url("x")``)
- ``GET /messages``                                         -> every recorded call, as JSON

Each record is a dict: ``{"method": "chat.postMessage" | "chat.update" | "response_url", "channel", "ts", "text",
"blocks", "thread_ts", "response_id", "payload", "authorized"}`` (``authorized`` says whether the bearer token
matched ``token`` when one is set; the token itself is never recorded).

Faults, for tests and the benchmark: ``outage = True`` answers every Web API call with HTTP 503
``service_unavailable`` until it is set back; ``faults = SlackFaults(rate, seed)`` fails a seeded share of calls
(503) or holds them past the client's timeout, before anything is recorded. ``faults.injected`` counts them.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

READ_METHODS = ("auth.test", "conversations.list", "conversations.info", "users.info")
AUTH_TEST = {
    "ok": True,
    "url": "https://slipway-local.slack.com/",
    "team": "slipway-local",
    "user": "slipway",
    "team_id": "T0LOCAL",
    "user_id": "U0SLIPWAYBOT",
    "bot_id": "B0LOCAL",
}


RESPONSE_URL = "response_url"


@dataclass
class SlackFaults:
    """Fail (503) or time out a seeded share of the calls; ``methods`` limits them (Web API methods and
    ``response_url``), None means every call. A timeout holds the request ``hang_seconds`` (longer than slipway's
    Web API timeout, 10 s, and its response_url timeout, 2 s) and answers 503 to a client that has given up; nothing
    is recorded either way."""

    rate: float
    seed: int = 0
    hang_seconds: float = 11.0
    timeout_share: float = 0.5
    methods: frozenset[str] | None = None
    injected: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    _random: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 - reproducible fault injection, not security

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    def injected_kinds(self) -> set[str]:
        """``fail`` and/or ``timeout``: the kinds of fault injected so far."""
        return {key.rsplit(":", 1)[1] for key in self.injected}

    def pick(self, method: str) -> str | None:
        """``fail``, ``timeout`` or None for one call of ``method``."""
        if self.methods is not None and method not in self.methods:
            return None
        with self._lock:
            self.calls += 1
            if self._random.random() >= self.rate:
                return None
            fault = "timeout" if self._random.random() < self.timeout_share else "fail"
            self.injected[f"{method}:{fault}"] += 1
        return fault


class FakeSlack:
    def __init__(self, *, port: int = 0, token: str | None = None, host: str = "127.0.0.1") -> None:
        self._port = port
        self.host = host
        self.token = token
        self.messages: list[dict[str, Any]] = []
        self.usergroups: dict[str, list[str]] = {}
        self.channel_ids: dict[str, str] = {}  # the name (or id) posted to -> the channel's id
        self.channels: dict[str, dict[str, Any]] = {}  # id -> conversations.info's channel object
        self.users: dict[str, dict[str, Any]] = {}  # id -> users.info's user object
        self.outage = False
        self.faults: SlackFaults | None = None
        self.refused: Counter[str] = Counter()  # calls answered 503 by the outage switch
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer((self.host, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-slack", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def base_url(self) -> str:
        """The Web API base URL (ends with /api/), as slack_sdk's ``base_url`` expects."""
        return f"{self.root_url}api/"

    def response_url(self, response_id: str) -> str:
        """A response_url as Slack puts into an interaction payload, answered by this fake."""
        return f"{self.root_url}response/{response_id}"

    # ------------------------------------------------------------------ queries for tests
    def calls(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if m["method"] == method]

    def posts(self) -> list[dict[str, Any]]:
        return self.calls("chat.postMessage")

    def updates(self) -> list[dict[str, Any]]:
        return self.calls("chat.update")

    def responses(self) -> list[dict[str, Any]]:
        return self.calls("response_url")

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    # ------------------------------------------------------------------ the workspace
    def add_channel(self, name: str, *, member: bool = True, private: bool = False) -> str:
        """A channel (``#name`` or ``name``); ``member=False``: the bot is not in it. Returns its id."""
        channel_id = _channel_id(name)
        with self._lock:
            self.channel_ids[name] = channel_id
            self.channels[channel_id] = {
                "id": channel_id,
                "name": name.lstrip("#"),
                "is_channel": not private,
                "is_group": private,
                "is_private": private,
                "is_archived": False,
                "is_member": member,
            }
        return channel_id

    def add_user(self, user_id: str, name: str | None = None, *, deleted: bool = False) -> None:
        with self._lock:
            self.users[user_id] = {
                "id": user_id,
                "name": name or user_id.lower(),
                "deleted": deleted,
                "is_bot": False,
                "profile": {"display_name": name or user_id.lower()},
            }

    def channel_name(self, channel_id: str) -> str | None:
        """``#name`` of a channel id, when known."""
        channel = self.channels.get(channel_id)
        return f"#{channel['name']}" if channel else None

    # ------------------------------------------------------------------ HTTP
    def _handle(self, request: BaseHTTPRequestHandler, verb: str) -> None:
        url = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(url.query).items()}
        content_type = request.headers.get("Content-Type", "")
        if raw:
            if "json" in content_type:
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._reply(request, 400, {"ok": False, "error": "invalid_json"})
                    return
                if isinstance(body, dict):
                    args.update(body)
            else:
                args.update({k: v[-1] for k, v in parse_qs(raw.decode("utf-8")).items()})
        if isinstance(args.get("blocks"), str):
            try:
                args["blocks"] = json.loads(args["blocks"])
            except ValueError:
                self._reply(request, 200, {"ok": False, "error": "invalid_blocks"})
                return
        authorization = request.headers.get("Authorization", "")
        authorized = self.token is None or authorization == f"Bearer {self.token}"

        if verb == "GET" and url.path == "/messages":
            with self._lock:
                self._reply(request, 200, list(self.messages))
            return
        if url.path.startswith("/response/"):
            if self._injected(request, RESPONSE_URL):
                return
            self._record(
                {
                    "method": "response_url",
                    "response_id": url.path.removeprefix("/response/"),
                    "payload": args,
                    "text": args.get("text"),
                    "blocks": args.get("blocks"),
                    "authorized": True,
                }
            )
            self._reply(request, 200, {"ok": True})
            return
        if not url.path.startswith("/api/"):
            self._reply(request, 404, {"ok": False, "error": "not_found"})
            return
        method = url.path.removeprefix("/api/")
        if self.outage:
            self.refused[method] += 1
            self._reply(request, 503, {"ok": False, "error": "service_unavailable"})
            return
        if self._injected(request, method):
            return
        if not authorized:
            self._reply(request, 200, {"ok": False, "error": "invalid_auth"})
            return
        if method in ("chat.postMessage", "chat.update"):
            self._chat(request, method, args)
        elif method == "usergroups.users.list":
            group = str(args.get("usergroup", ""))
            if group not in self.usergroups:
                self._reply(request, 200, {"ok": False, "error": "no_such_subteam"})
            else:
                self._reply(request, 200, {"ok": True, "users": list(self.usergroups[group])})
        elif method in READ_METHODS:
            self._reply(request, 200, self._read(method, args))
        else:
            self._reply(request, 200, {"ok": False, "error": "unknown_method"})

    def _read(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """auth.test, conversations.list/info and users.info, answered from ``channels`` and ``users``."""
        with self._lock:
            if method == "auth.test":
                return dict(AUTH_TEST)
            if method == "conversations.list":
                visible = [dict(c) for c in self.channels.values() if not c["is_private"] or c["is_member"]]
                return {"ok": True, "channels": visible, "response_metadata": {"next_cursor": ""}}
            if method == "conversations.info":
                channel = self.channels.get(str(args.get("channel", "")))
                if channel is None or (channel["is_private"] and not channel["is_member"]):
                    return {"ok": False, "error": "channel_not_found"}
                return {"ok": True, "channel": dict(channel)}
            user = self.users.get(str(args.get("user", "")))
            return {"ok": True, "user": dict(user)} if user else {"ok": False, "error": "user_not_found"}

    def _chat(self, request: BaseHTTPRequestHandler, method: str, args: dict[str, Any]) -> None:
        channel = args.get("channel")
        if not channel or not (args.get("text") or args.get("blocks")):
            self._reply(request, 200, {"ok": False, "error": "channel_not_found" if not channel else "no_text"})
            return
        key = str(channel)
        channel_id = key if key in self.channels else (self.channel_ids.get(key) or self.add_channel(key))
        if not self.channels.get(channel_id, {}).get("is_member", True):
            self._reply(request, 200, {"ok": False, "error": "not_in_channel"})
            return
        if method == "chat.update":
            ts = args.get("ts")
            if not ts:
                self._reply(request, 200, {"ok": False, "error": "message_not_found"})
                return
        else:
            ts = f"1700000000.{next(self._ts):06d}"
        record = {
            "method": method,
            "channel": channel_id,
            "channel_name": str(channel),
            "ts": str(ts),
            "text": args.get("text"),
            "blocks": args.get("blocks"),
            "thread_ts": args.get("thread_ts"),
            "authorized": True,
        }
        self._record(record)
        self._reply(
            request,
            200,
            {"ok": True, "channel": channel_id, "ts": str(ts), "message": {"text": args.get("text"), "ts": str(ts)}},
        )

    def _injected(self, request: BaseHTTPRequestHandler, method: str) -> bool:
        """Answer with an injected fault (True), or let the call through (False)."""
        fault = self.faults.pick(method) if self.faults is not None else None
        if fault is None:
            return False
        if fault == "timeout":
            time.sleep(self.faults.hang_seconds if self.faults is not None else 0)
        with contextlib.suppress(OSError):  # after a timeout the client has gone: that was the point
            self._reply(request, 503, {"ok": False, "error": "service_unavailable"})
        return True

    def _record(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.messages.append(record)

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode("utf-8")
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


def _channel_id(channel: str) -> str:
    """Slack answers with channel ids (C...), whatever name was posted to: a stable one per name."""
    if channel.startswith(("C", "G", "D")) and channel[1:].isalnum() and channel.isupper():
        return channel
    return "C" + hashlib.sha256(channel.lstrip("#").encode()).hexdigest()[:10].upper()
