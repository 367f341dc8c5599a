"""What CloudFormation would name things in a deployed slipway stack: parameters (given, else the template's
defaults), every resource's ``Ref`` and ``GetAtt`` values, and those of the resources SAM generates from them
(a function's role and its EventBridge rules). The embedded local cloud deploys with these names; the IAM check
resolves the roles' policies with the same names as the calls it judges."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slipway_dev.local.intrinsics import Resolver


class StackError(ValueError):
    """The template needs a parameter value nobody gave."""


def stack_resolver(
    template: dict[str, Any],
    *,
    region: str,
    account: str,
    prefix: str,
    parameters: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
    queue_url_base: str | None = None,
) -> Resolver:
    """A resolver for the stack ``template`` would be: ``names`` overrides a resource's physical name (logical id
    -> name, e.g. a test's own table names); other resources are named ``<prefix>-<logical id>``."""
    resolver = Resolver(region=region, account=account, conditions=dict(template.get("Conditions") or {}))
    for name, parameter in template.get("Parameters", {}).items():
        if name in parameters:
            resolver.refs[name] = parameters[name]
        elif "Default" in parameter:
            default = parameter["Default"]
            is_list = parameter.get("Type") == "CommaDelimitedList"
            resolver.refs[name] = default.split(",") if is_list and isinstance(default, str) else default
        else:
            raise StackError(f"template parameter {name} has no default and no value was given")
    overrides = dict(names or {})
    base = queue_url_base or f"https://sqs.{region}.amazonaws.com"
    resources: dict[str, Any] = template["Resources"]
    for logical_id, resource in resources.items():
        kind = resource["Type"]
        name = overrides.get(logical_id, f"{prefix}-{logical_id}")
        if kind == "AWS::DynamoDB::Table":
            resolver.refs[logical_id] = name
            resolver.attrs[(logical_id, "Arn")] = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        elif kind == "AWS::SQS::Queue":
            resolver.refs[logical_id] = f"{base}/{account}/{name}"
            resolver.attrs[(logical_id, "Arn")] = f"arn:aws:sqs:{region}:{account}:{name}"
            resolver.attrs[(logical_id, "QueueName")] = name
        elif kind == "AWS::SNS::Topic":
            resolver.refs[logical_id] = f"arn:aws:sns:{region}:{account}:{name}"
            resolver.attrs[(logical_id, "TopicName")] = name
        elif kind == "AWS::Serverless::Function":
            function_name = overrides.get(logical_id, logical_id)
            resolver.refs[logical_id] = function_name
            resolver.attrs[(logical_id, "Arn")] = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
            role = f"{logical_id}Role"
            resolver.refs[role] = f"{prefix}-{role}"
            resolver.attrs[(role, "Arn")] = f"arn:aws:iam::{account}:role/{prefix}-{role}"
            for event_id, event in (resource.get("Properties", {}).get("Events") or {}).items():
                if event.get("Type") == "EventBridgeRule":
                    rule = f"{logical_id}{event_id}"  # the AWS::Events::Rule SAM generates
                    rule_name = rule_name_of(logical_id, event_id)
                    resolver.refs[rule] = rule_name
                    resolver.attrs[(rule, "Arn")] = f"arn:aws:events:{region}:{account}:rule/{rule_name}"
        elif kind == "AWS::Serverless::LayerVersion":
            resolver.refs[logical_id] = f"arn:aws:lambda:{region}:{account}:layer:{logical_id}:1"
        elif kind == "AWS::Serverless::HttpApi":
            resolver.refs[logical_id] = name
        elif kind == "AWS::Logs::LogGroup":
            resolver.refs[logical_id] = name
            resolver.attrs[(logical_id, "Arn")] = f"arn:aws:logs:{region}:{account}:log-group:{name}:*"
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::StateMachine":
            continue
        props = resource.get("Properties", {})
        name = overrides.get(logical_id) or str(resolver.resolve(props.get("Name", f"{prefix}-{logical_id}")))
        arn = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
        resolver.refs[logical_id] = arn
        resolver.attrs[(logical_id, "Name")] = name
        resolver.attrs[(logical_id, "Arn")] = arn
    return resolver


def rule_name_of(function: str, event: str) -> str:
    """The name the local cloud gives a function's EventBridge rule (CloudFormation would add a random suffix)."""
    return f"{function}-{event}"[:64]
