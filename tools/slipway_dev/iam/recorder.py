"""Recording the AWS calls each function makes, in-process: a botocore event hook that every session gets
(``botocore.handlers.BUILTIN_HANDLERS``), active only while a function acts (``acting_as(logical_id)``: the local
cloud's handler runner sets it around each invocation, tests around each domain call they make for a function).

A call is recorded with the stack whose names it should be judged by (``use_stack``), and only when it is signed
with the function's own credentials, or with credentials of a role it assumed (``AssumeRole``, seen by an
``after-call`` hook): such a call is recorded with that role, and judged by it (an environment's deploy role,
``slipway_dev.iam.target_roles``). A call made with other credentials (a CodePipeline job's artifact credentials)
is not the function's role at work."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slipway_dev.local.intrinsics import Resolver

if TYPE_CHECKING:
    from slipway_dev.iam.roles import Role

_ACTING: ContextVar[str | None] = ContextVar("slipway_iam_acting", default=None)
_CONTEXT_KEY = "slipway_iam"


@dataclass(frozen=True)
class Stack:
    """The names one deployment of the template has (a local cloud, a test's moto world)."""

    key: str
    resolver: Resolver
    state_machine_arn: str
    target_roles: dict[str, Role] = field(default_factory=dict)  # deploy role ARN -> target-account.yaml's role


@dataclass(frozen=True)
class Call:
    function: str
    service: str
    operation: str
    params: dict[str, Any]
    region: str
    stack: str
    role: str = ""  # the assumed role whose credentials signed it; empty: the function's own role


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of request parameters (bodies and streams are not needed to judge a call)."""
    if depth > 12:
        return "<deep>"
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return f"<{type(value).__name__}>"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.stacks: dict[str, Stack] = {}
        self.assumed: dict[str, str] = {}  # access key id -> the role ARN it is a session of
        self.current: str | None = None
        self.enabled = False
        self._lock = threading.Lock()

    def install(self) -> None:
        """Every botocore session created from now on reports its calls here (idempotent)."""
        import botocore.handlers

        handlers = botocore.handlers.BUILTIN_HANDLERS
        if not any(h[1] == _on_params for h in handlers):
            handlers.append(("provide-client-params", _on_params))
            # First among the most specific: a botocore Stubber answers at before-call.*.* and stops the chain.
            handlers.append(("before-call.*.*", _on_call, botocore.handlers.REGISTER_FIRST))
            handlers.append(("after-call.sts.AssumeRole", _on_assumed))
        self.enabled = True

    def use_stack(self, stack: Stack) -> None:
        with self._lock:
            self.stacks[stack.key] = stack
            self.current = stack.key

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)


RECORDER = Recorder()


@contextlib.contextmanager
def acting_as(function: str) -> Iterator[None]:
    """AWS calls made in this block (this thread) are ``function``'s (a logical id of the template)."""
    token = _ACTING.set(function)
    try:
        yield
    finally:
        _ACTING.reset(token)


def acting_function() -> str | None:
    """The function (logical id) whose AWS calls this thread is making, or None outside ``acting_as``."""
    return _ACTING.get()


def _on_params(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    function = _ACTING.get()
    if function is None or not RECORDER.enabled or RECORDER.current is None:
        return
    context[_CONTEXT_KEY] = (function, RECORDER.current, _plain(params))


def _on_call(model: Any, context: dict[str, Any], request_signer: Any = None, **_: Any) -> None:
    found = context.pop(_CONTEXT_KEY, None)
    if found is None:
        return
    function, stack, params = found
    credentials = getattr(request_signer, "_credentials", None)
    own = os.environ.get("AWS_ACCESS_KEY_ID")
    access_key = getattr(credentials, "access_key", own) if credentials is not None else own
    role = ""
    if own and access_key != own:
        role = RECORDER.assumed.get(str(access_key), "")
        if not role:
            return  # signed with credentials the function was handed, not its role's
    RECORDER.record(
        Call(
            function=function,
            service=model.service_model.service_name,
            operation=model.name,
            params=params,
            region=str(context.get("client_region") or ""),
            stack=stack,
            role=role,
        )
    )


def _on_assumed(parsed: dict[str, Any], **_: Any) -> None:
    """Remember whose session an AssumeRole answer's access key is (``arn:aws:iam::ACCOUNT:role/NAME``)."""
    credentials, user = parsed.get("Credentials") or {}, parsed.get("AssumedRoleUser") or {}
    arn = str(user.get("Arn") or "")
    if not credentials.get("AccessKeyId") or ":assumed-role/" not in arn:
        return
    account = arn.split(":")[4]
    name = arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
    with RECORDER._lock:
        RECORDER.assumed[str(credentials["AccessKeyId"])] = f"arn:aws:iam::{account}:role/{name}"
