"""Running the real ``functions/<dir>/app.py:lambda_handler`` in-process, as Lambda would run it.

Each function's module is loaded by path under a unique module name (two functions may both be ``app.py``), and
reloaded when the file changes, so a handler edited while ``slipway local up`` runs is picked up. A raised
exception becomes Lambda's ``Unhandled`` error payload (``errorType`` = the exception class name), which is what
Step Functions matches in Retry/Catch.

On Lambda each execution environment runs one invocation at a time, so the Powertools logger's keys
(``function_name``, ``cold_start``, ``function_request_id``, the correlation id) belong to that invocation. Here
every function shares one process and one logger, and invocations run in threads at the same time; the runner
therefore makes the logger's keys per thread (``isolate_logger_state``) and starts each invocation from a clean
state, so a PrepareEnvironment log line carries PrepareEnvironment's context, whatever runs next to it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from slipway_dev.iam.recorder import acting_as

_isolate_lock = threading.Lock()
PER_THREAD_MARKER = "_slipway_per_thread_keys"


def _fresh_log_format(formatter: Any) -> dict[str, Any]:
    """The state ``Logger.clear_state`` leaves: the record order, then the logger's own keys (service, ...)."""
    log_format: dict[str, Any] = dict.fromkeys(getattr(formatter, "log_record_order", []) or [])
    log_format.update(getattr(formatter, "keys_combined", {}) or {})
    return log_format


def isolate_logger_state() -> Any:
    """Make ``slipway.observability.logger``'s appended keys per thread (idempotent); returns the formatter.

    Powertools keeps them in the formatter's ``log_format`` dict, one per logger. The formatter's class is
    swapped for a subclass whose ``log_format`` lives in a ``threading.local``: the calling thread keeps what it
    had, other threads start from a clean state.
    """
    from slipway.observability import logger

    formatter = logger.registered_formatter
    with _isolate_lock:
        if getattr(formatter, PER_THREAD_MARKER, False):
            return formatter
        per_thread = threading.local()
        per_thread.log_format = formatter.__dict__.pop("log_format", None)

        def get(self: Any) -> dict[str, Any]:
            value: dict[str, Any] | None = getattr(per_thread, "log_format", None)
            if value is None:
                value = per_thread.log_format = _fresh_log_format(self)
            return value

        def set_(self: Any, value: dict[str, Any]) -> None:
            per_thread.log_format = value

        base = type(formatter)
        formatter.__class__ = type(
            f"PerThread{base.__name__}", (base,), {"log_format": property(get, set_), PER_THREAD_MARKER: True}
        )
    return formatter


def reset_logger_state() -> None:
    """This thread's logger keys back to a clean state (what a new execution environment starts with)."""
    formatter = isolate_logger_state()
    formatter.log_format = _fresh_log_format(formatter)


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools and handlers read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 30
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local/[$LATEST]local"
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Serverless::Function of the template, as the local cloud runs it."""

    logical_id: str
    code_dir: Path
    handler: str  # "app.lambda_handler"
    arn: str
    environment: dict[str, str]
    timeout_seconds: int = 30
    memory_mb: int = 512

    @property
    def module_path(self) -> Path:
        return self.code_dir / (self.handler.rsplit(".", 1)[0] + ".py")

    @property
    def function_name(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass
class InvocationResult:
    payload: Any
    error: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


class HandlerNotFound(LookupError):
    """The function's handler file does not exist (yet)."""


class HandlerRunner:
    """Loads and calls handlers; counts invocations per function (thread-safe)."""

    def __init__(
        self,
        on_invoke: Callable[[str, Any, InvocationResult, float], None] | None = None,
        scope: Callable[[FunctionSpec], AbstractContextManager[Any]] | None = None,
    ) -> None:
        self._modules: dict[str, tuple[float, ModuleType]] = {}
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._in_flight: set[int] = set()
        self._next_id = 0
        self._idle = threading.Condition(self._lock)
        self._on_invoke = on_invoke
        self._scope = scope  # what each invocation runs inside (the local cloud: the function's own wiring)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def in_flight(self) -> set[int]:
        with self._lock:
            return set(self._in_flight)

    def wait_finished(self, ids: set[int], timeout: float) -> bool:
        """Wait until none of the given invocations is still running."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while ids & self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _load(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        path = spec.module_path
        if not path.is_file():
            raise HandlerNotFound(f"{spec.logical_id}: handler file {path} does not exist")
        mtime = path.stat().st_mtime
        with self._lock:
            cached = self._modules.get(spec.logical_id)
        if cached is None or cached[0] != mtime:
            module_name = f"slipway_local_fn_{spec.logical_id}_{int(mtime * 1000)}"
            module_spec = importlib.util.spec_from_file_location(module_name, path)
            if module_spec is None or module_spec.loader is None:
                raise HandlerNotFound(f"{spec.logical_id}: cannot load {path}")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            with self._lock:
                self._modules[spec.logical_id] = (mtime, module)
            cached = (mtime, module)
        handler = getattr(cached[1], spec.function_name, None)
        if not callable(handler):
            raise HandlerNotFound(f"{spec.logical_id}: {path} has no function {spec.function_name}")
        return handler  # type: ignore[no-any-return]

    def invoke(self, spec: FunctionSpec, event: Any) -> InvocationResult:
        with self._lock:
            self._counts[spec.logical_id] = self._counts.get(spec.logical_id, 0) + 1
            self._next_id += 1
            invocation_id = self._next_id
            self._in_flight.add(invocation_id)
        started = time.monotonic()
        try:
            handler = self._load(spec)
            reset_logger_state()
            context = LambdaContext(
                function_name=spec.logical_id,
                invoked_function_arn=spec.arn,
                memory_limit_in_mb=spec.memory_mb,
                timeout_seconds=spec.timeout_seconds,
            )
            scope = self._scope(spec) if self._scope else contextlib.nullcontext()
            with scope, acting_as(spec.logical_id):  # the IAM check judges this invocation's calls by its role
                result = InvocationResult(payload=handler(event, context))
        except Exception as exc:
            result = InvocationResult(
                payload=None,
                error={
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exception(exc)[-6:],
                },
            )
        finally:
            with self._idle:
                self._in_flight.discard(invocation_id)
                self._idle.notify_all()
        if self._on_invoke is not None:
            self._on_invoke(spec.logical_id, event, result, time.monotonic() - started)
        return result
