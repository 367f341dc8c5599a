"""Talking to a running local cloud from another process, through what ``.slipway/local.json`` records.

``slipway local invoke/approve/reject/demo`` use this whether the cloud runs in their own process or in a
``slipway local up`` elsewhere: boto3 against ``aws_endpoint``, HTTP to the fake Slack and the gateway.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway_dev.local.base import shared_session
from slipway_dev.local.state import DEFAULT_STATE_DIR, LocalStateError, read_local_state, state_dir_default

__all__ = ["DEFAULT_STATE_DIR", "CloudHandle", "running_state", "state_dir_default"]


def _get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URLs of local.json
        return json.loads(response.read())


def _post_json(url: str, payload: Any, timeout: float = 5.0) -> Any:
    request = urllib.request.Request(  # noqa: S310 - loopback URL
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read())


def running_state(state_dir: Path) -> dict[str, Any] | None:
    """The recorded state of a local cloud that answers now, else None (a stale file is ignored)."""
    try:
        _, state = read_local_state(state_dir)
    except LocalStateError:
        return None
    if state is None:
        return None
    try:
        _get_json(state["gateway_url"] + "/health", timeout=2.0)
    except (OSError, KeyError, ValueError):
        return None
    return state


@dataclass
class CloudHandle:
    state: dict[str, Any]
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def client(self, service: str) -> Any:
        """One client per service (boto3 clients are thread-safe): the demo asks every 0.1 s, and creating a client
        each time was a tenth of a local release's CPU (make bench, local_release_seconds)."""
        if service not in self._clients:
            # The process's one session: a session of its own per handle would parse botocore's service models
            # again for every demo run, and keep them for the garbage collector's slow full passes.
            self._clients[service] = shared_session().client(
                service, endpoint_url=self.state["aws_endpoint"], region_name=self.state["region"]
            )
        return self._clients[service]

    @property
    def state_machine_arn(self) -> str:
        return str(self.state["state_machine_arn"])

    def execution_arn(self, release_id: str) -> str:
        return self.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + release_id

    def slack_messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = _get_json(self.state["slack_messages_url"])
        return messages

    def response_url(self, response_id: str) -> str:
        return str(self.state["slack_base_url"]).removesuffix("api/") + f"response/{response_id}"

    def invocation_counts(self) -> dict[str, int]:
        counts: dict[str, int] = _get_json(self.state["invocations_url"])["counts"]
        return counts

    def set_failing_deployments(self, names: list[str]) -> None:
        _post_json(self.state["gateway_url"] + "/control/codedeploy", {"fail": names})

    def invoke(self, function: str, event: Any) -> tuple[Any, bool]:
        """``lambda invoke``: (payload, failed)."""
        response = self.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode("utf-8"))
        payload = json.loads(response["Payload"].read() or b"null")
        return payload, bool(response.get("FunctionError"))
