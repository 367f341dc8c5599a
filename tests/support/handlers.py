"""The real handlers (``functions/<dir>/app.py``), loaded as Lambda loads them, and the one Lambda context."""

from __future__ import annotations

import importlib.util
import time
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from slipway_dev.iam.recorder import acting_as
from tests.support.paths import FUNCTIONS

ACCOUNT = "123456789012"
REGION = "eu-west-2"


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools and handlers read."""

    function_name: str = "slipway-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:slipway-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/slipway-test"
    log_stream_name: str = "test/[$LATEST]test"
    timeout_seconds: int = 30
    _started: float = field(default_factory=time.monotonic, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._started + self.timeout_seconds - time.monotonic()) * 1000))


def load_handler(function: str) -> ModuleType:
    """``functions/<function>/app.py`` under a unique module name (every handler module is called ``app``); its
    ``lambda_handler`` acts as the template's function, so the IAM check judges its calls by that role."""
    from tests.support.iam import logical_id_of

    path = FUNCTIONS / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"handler_{function}_{uuid.uuid4().hex[:8]}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = module.lambda_handler
    logical_id = logical_id_of(function)

    def acting(event: Any, context: Any) -> Any:
        with acting_as(logical_id):
            return handler(event, context)

    module.lambda_handler = acting
    return module


def invoke(function: str, event: Any) -> Any:
    """Call the handler of ``functions/<function>`` once, with a fresh Lambda context."""
    context = LambdaContext(function_name=function)
    return load_handler(function).lambda_handler(event, context)
