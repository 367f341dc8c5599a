"""The local cloud's fault mode: a seeded share of AWS calls answered with throttling or a 5xx before they are
sent, exactly the first calls of named operations, and the fake Slack's share of failures and timeouts."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from slipway.adapters.aws import raise_transient
from slipway.errors import TransientError
from slipway_dev.local.fake_slack import SlackFaults
from slipway_dev.local.faults import AWS_FAULTS, AwsFaults, FailFirst


def dynamodb() -> object:
    return boto3.client("dynamodb", region_name="eu-west-2", aws_access_key_id="x", aws_secret_access_key="y")


def decisions(faults: AwsFaults, calls: int) -> list[bool]:
    model = dynamodb().meta.service_model.operation_model("GetItem")  # type: ignore[attr-defined]
    return [faults.hook(model=model) is not None for _ in range(calls)]


def test_the_same_seed_fails_the_same_calls_and_the_rate_holds() -> None:
    first, second = decisions(AwsFaults(rate=0.05, seed=7), 4000), decisions(AwsFaults(rate=0.05, seed=7), 4000)
    assert first == second
    assert 0.04 < sum(first) / len(first) < 0.06
    assert decisions(AwsFaults(rate=0.05, seed=8), 4000) != first
    with pytest.raises(ValueError, match="between 0 and 1"):
        AwsFaults(rate=1.5)


def test_an_injected_fault_fails_the_call_before_it_is_sent_with_an_aws_error() -> None:
    client = dynamodb()
    faults = AwsFaults(rate=1.0, seed=1)
    faults.install(client)
    with pytest.raises(ClientError) as caught:  # no network: the call never leaves the hook
        client.get_item(TableName="t", Key={"pk": {"S": "x"}})  # type: ignore[attr-defined]
    assert (caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]) in [
        (code, status) for code, status in AWS_FAULTS
    ]
    assert faults.total == 1 and faults.calls == 1
    assert next(iter(faults.injected)).startswith("dynamodb.GetItem:")


def test_a_client_with_slipways_hook_raises_transient_error_for_an_injected_fault() -> None:
    client = dynamodb()
    FailFirst(["dynamodb.GetItem"], times=2, code="ThrottlingException").install(client)
    client.meta.events.register("after-call", raise_transient)  # type: ignore[attr-defined]
    for _ in range(2):
        with pytest.raises(TransientError, match=r"dynamodb\.GetItem: ThrottlingException"):
            client.get_item(TableName="t", Key={"pk": {"S": "x"}})  # type: ignore[attr-defined]


def test_the_fake_slacks_faults_are_seeded_and_limited_to_the_methods_named() -> None:
    one = SlackFaults(rate=0.5, seed=3)
    two = SlackFaults(rate=0.5, seed=3)
    assert [one.pick("chat.postMessage") for _ in range(50)] == [two.pick("chat.postMessage") for _ in range(50)]
    assert {"fail", "timeout"} <= set(one.injected_kinds())
    only = SlackFaults(rate=1.0, methods=frozenset({"response_url"}))
    assert only.pick("chat.postMessage") is None and only.pick("response_url") in ("fail", "timeout")
