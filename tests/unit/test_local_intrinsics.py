"""The CloudFormation intrinsics the local cloud resolves when it deploys template.yaml."""

from __future__ import annotations

import pytest

from slipway_dev.local.intrinsics import Resolver, UnresolvableError

pytestmark = pytest.mark.unit


@pytest.fixture
def resolver() -> Resolver:
    return Resolver(
        region="eu-west-2",
        account="123456789012",
        refs={"EnvironmentName": "dev", "ConfigLocation": "s3://bucket/config", "Names": ["a", "b"]},
        attrs={("Machine", "Name"): "slipway-release-dev", ("Queue", "Arn"): "arn:aws:sqs:eu-west-2:1:q"},
    )


def test_ref_sub_getatt_select_split(resolver: Resolver) -> None:
    assert resolver.resolve({"Ref": "EnvironmentName"}) == "dev"
    assert resolver.resolve({"Ref": "AWS::Region"}) == "eu-west-2"
    assert resolver.resolve({"Fn::Sub": "slipway-${EnvironmentName}-${AWS::AccountId}"}) == "slipway-dev-123456789012"
    assert resolver.resolve({"Fn::Sub": "x:${Machine.Name}:*"}) == "x:slipway-release-dev:*"
    assert resolver.resolve({"Fn::Sub": ["${A}-${Names}", {"A": {"Ref": "EnvironmentName"}}]}) == "dev-a,b"
    assert resolver.resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == "arn:aws:sqs:eu-west-2:1:q"
    assert resolver.resolve({"Fn::GetAtt": "Queue.Arn"}) == "arn:aws:sqs:eu-west-2:1:q"
    split = {"Fn::Split": ["/", {"Ref": "ConfigLocation"}]}
    assert resolver.resolve({"Fn::Select": [2, split]}) == "bucket"
    assert resolver.resolve({"Pattern": {"detail": {"name": {"Ref": "Names"}}}}) == {
        "Pattern": {"detail": {"name": ["a", "b"]}}
    }
    assert resolver.resolve([1, "two"]) == [1, "two"]


def test_conditions_and_no_value(resolver: Resolver) -> None:
    resolver.conditions["HasTopic"] = {"Fn::Not": [{"Fn::Equals": [{"Ref": "Topic"}, ""]}]}
    resolver.refs["Topic"] = ""
    value = {"Actions": {"Fn::If": ["HasTopic", [{"Ref": "Topic"}], {"Ref": "AWS::NoValue"}]}, "Keep": 1}
    assert resolver.resolve(value) == {"Keep": 1}
    resolver.refs["Topic"] = "arn:aws:sns:eu-west-2:1:t"
    assert resolver.resolve(value) == {"Actions": ["arn:aws:sns:eu-west-2:1:t"], "Keep": 1}
    assert resolver.resolve({"Fn::Join": [",", ["a", {"Ref": "Topic"}]]}) == "a,arn:aws:sns:eu-west-2:1:t"
    assert resolver.resolve({"Fn::Or": [False, {"Condition": "HasTopic"}]}) is True


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Ref": "Missing"}, "!Ref Missing"),
        ({"Fn::GetAtt": ["Queue", "Url"]}, "!GetAtt Queue.Url"),
        ({"Fn::If": ["C", 1, 2]}, "condition C"),
        ({"Fn::ImportValue": "x"}, "Fn::ImportValue"),
    ],
)
def test_unresolvable_values_name_the_problem(resolver: Resolver, value: object, message: str) -> None:
    with pytest.raises(UnresolvableError, match=message):
        resolver.resolve(value)
