"""The template deployer: ``template.yaml`` into moto as CloudFormation would deploy it. Parameters (the local
cloud's values, then the template's defaults), every resource's name and ARN, DynamoDB tables, SQS queues, SNS
topics, the config in S3, the functions (under their logical ids, with their resolved environment), the state
machines (with their DefinitionSubstitutions applied) and the functions' event sources (EventBridge rules, SNS
subscriptions, HttpApi routes).

moto's CloudFormation cannot deploy a SAM template, so the resources are created here; the stack itself is
recorded in moto's CloudFormation (``slipway-<EnvironmentName>``, with the parameters as resolved here and no
resources), so ``DescribeStacks`` answers as on AWS: ``slipway preflight`` reads the same parameters either way."""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slipway.models.compiled import COMPILED_FILE
from slipway_dev.compiled import compiled_config
from slipway_dev.local.base import FAIL_ENV_VAR, LOCAL_BOT_TOKEN, LocalCloudError, Route
from slipway_dev.local.handlers import FunctionSpec
from slipway_dev.local.intrinsics import Resolver
from slipway_dev.local.patches import AsyncTarget
from slipway_dev.stack import StackError, rule_name_of, stack_resolver
from slipway_dev.stack_parameters import target_account_ids, target_role_arns, task_role_arns
from slipway_dev.template import functions, load_template, rendered_definitions, table_kwargs

if TYPE_CHECKING:
    from slipway_dev.local.cloud import LocalCloud


def deploy_template(cloud: LocalCloud, config: Any) -> None:
    """Create every resource of ``cloud.root / template.yaml`` in ``cloud``; ``config`` is the loaded config."""
    template = load_template(cloud.root / "template.yaml")
    prefix = f"slipway-{cloud.environment_name}"
    resources: dict[str, Any] = template["Resources"]

    bucket = f"{prefix}-config-{cloud.account}"
    cloud.world.slack_secret_arn = _create_slack_secret(cloud, prefix)
    cloud.world.config_location = f"s3://{bucket}/config"
    parameters: dict[str, Any] = {
        "EnvironmentName": cloud.environment_name,
        "LogLevel": cloud.log_level,
        "SlackSecretArn": cloud.world.slack_secret_arn,
        "ConfigLocation": cloud.world.config_location,
        "RepositoryNames": sorted({p.repository for p in config.pipelines.values()}),
        "TaskRoleArns": task_role_arns(config, cloud.config_dir) or [""],
        "TargetRoleArns": target_role_arns(config) or [""],
        "TargetAccountIds": target_account_ids(config) or [""],
        "ApprovalPipelineArns": [
            f"arn:aws:codepipeline:{cloud.region}:{cloud.account}:{name}"
            for name in approval_pipeline_names(cloud.root / "events")
        ],
        "SlackApiUrl": cloud.slack.base_url,
        "AwsEndpointUrl": cloud.endpoint,
    }
    try:
        resolver = stack_resolver(
            template,
            region=cloud.region,
            account=cloud.account,
            prefix=prefix,
            parameters=parameters,
            queue_url_base=cloud.endpoint,
        )
    except StackError as exc:
        raise LocalCloudError(f"{exc} (the local cloud has no value for it)") from None
    cloud.resolver = resolver
    cloud.world.function_arns.update(
        {logical_id: resolver.attrs[(logical_id, "Arn")] for logical_id in functions(template)}
    )
    cloud.world.parameters.update({name: resolver.refs[name] for name in template.get("Parameters", {})})
    _record_stack(cloud, template, resolver, prefix)

    _create_tables(cloud, resources, resolver)
    _create_queues_and_topics(cloud, resources, resolver)
    _upload_config(cloud, bucket)
    cloud.specs = function_specs(cloud, template, resolver)
    role_arn = _create_role(cloud)
    _create_functions(cloud, template, role_arn)
    _set_function_environment(cloud)
    for logical_id, definition in rendered_definitions(
        template, lambda value: str(resolver.resolve(value)), cloud.root
    ).items():
        name = resolver.attrs[(logical_id, "Name")]
        arn = cloud.client("stepfunctions").create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=role_arn, type="STANDARD"
        )["stateMachineArn"]
        cloud.world.state_machine_arns[logical_id] = arn
    _create_event_sources(cloud, template, resolver)


def approval_pipeline_names(events_dir: Path) -> list[str]:
    """The CodePipeline pipelines of the sample Manual approval notifications (the stack answers only these)."""
    names: set[str] = set()
    for path in sorted(events_dir.glob("*.json")) if events_dir.is_dir() else []:
        try:
            event = json.loads(path.read_text(encoding="utf-8"))
            for record in event.get("Records", []) if isinstance(event, dict) else []:
                message = json.loads(record.get("Sns", {}).get("Message") or "{}")
                name = (message.get("approval") or {}).get("pipelineName") if isinstance(message, dict) else None
                if isinstance(name, str) and name:
                    names.add(name)
        except (ValueError, AttributeError):
            continue
    return sorted(names)


def _record_stack(cloud: LocalCloud, template: dict[str, Any], resolver: Resolver, name: str) -> None:
    """The stack's record in moto's CloudFormation: every parameter with its resolved value (a list as CloudFormation
    reports a CommaDelimitedList: comma-joined). Declared as String, which moto stores verbatim."""
    values = {
        key: ",".join(value) if isinstance(value, list) else str(value)
        for key in template.get("Parameters", {})
        for value in [resolver.refs[key]]
    }
    record = {
        "Description": "slipway's embedded local cloud: the template's resources are created by slipway_dev.local",
        "Parameters": {key: {"Type": "String"} for key in values},
        "Resources": {},
    }
    cloud.client("cloudformation").create_stack(
        StackName=name,
        TemplateBody=json.dumps(record),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()],
    )


def function_specs(cloud: LocalCloud, template: dict[str, Any], resolver: Resolver) -> dict[str, FunctionSpec]:
    """How each function runs here: its code (or the ``handler_file`` standing in for all) and its environment."""
    globals_ = template.get("Globals", {}).get("Function", {})
    global_env = globals_.get("Environment", {}).get("Variables", {})
    specs = {}
    for logical_id, props in functions(template).items():
        handler = props.get("Handler", globals_.get("Handler", "app.lambda_handler"))
        code_dir = cloud.root / props["CodeUri"]
        if cloud.handler_file is not None:
            code_dir, handler = cloud.handler_file.parent, f"{cloud.handler_file.stem}.lambda_handler"
        variables = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=code_dir,
            handler=handler,
            arn=cloud.world.function_arns[logical_id],
            environment={key: str(resolver.resolve(value)) for key, value in variables.items()},
            timeout_seconds=int(props.get("Timeout", globals_.get("Timeout", 30))),
            memory_mb=int(props.get("MemorySize", globals_.get("MemorySize", 512))),
        )
    return specs


def _create_slack_secret(cloud: LocalCloud, prefix: str) -> str:
    secret = {"bot_token": LOCAL_BOT_TOKEN, "signing_secret": cloud.signing_secret}
    response = cloud.client("secretsmanager").create_secret(Name=f"{prefix}/slack", SecretString=json.dumps(secret))
    return str(response["ARN"])


def _create_tables(cloud: LocalCloud, resources: dict[str, Any], resolver: Resolver) -> None:
    dynamodb = cloud.client("dynamodb")
    for logical_id, props in _of_type(resources, "AWS::DynamoDB::Table"):
        kwargs = table_kwargs({"Resources": resources}, logical_id, resolver.refs[logical_id])
        dynamodb.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=kwargs["TableName"], TimeToLiveSpecification=ttl)
        cloud.world.table_names[logical_id] = kwargs["TableName"]


def _create_queues_and_topics(cloud: LocalCloud, resources: dict[str, Any], resolver: Resolver) -> None:
    sqs, sns = cloud.client("sqs"), cloud.client("sns")
    for logical_id, props in _of_type(resources, "AWS::SQS::Queue"):
        attributes = {
            k: str(props[k]) for k in ("MessageRetentionPeriod", "VisibilityTimeout", "DelaySeconds") if k in props
        }
        url = sqs.create_queue(QueueName=resolver.attrs[(logical_id, "QueueName")], Attributes=attributes)
        resolver.refs[logical_id] = url["QueueUrl"]
        cloud.world.queue_urls[logical_id] = url["QueueUrl"]
    for logical_id, _props in _of_type(resources, "AWS::SNS::Topic"):
        arn = sns.create_topic(Name=resolver.attrs[(logical_id, "TopicName")])["TopicArn"]
        cloud.world.topic_arns[logical_id] = arn


def _upload_config(cloud: LocalCloud, bucket: str) -> None:
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": cloud.region})
    for path in sorted(cloud.config_dir.rglob("*")):
        if path.is_file():
            key = "config/" + path.relative_to(cloud.config_dir).as_posix()
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    # as publish-config does: the functions read the compiled file, not the YAML files
    s3.put_object(Bucket=bucket, Key=f"config/{COMPILED_FILE}", Body=compiled_config(cloud.config_dir))


def _create_role(cloud: LocalCloud) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = cloud.client("iam").create_role(
        RoleName=f"slipway-{cloud.environment_name}-execution", AssumeRolePolicyDocument=json.dumps(trust)
    )
    return str(role["Role"]["Arn"])


def _create_functions(cloud: LocalCloud, template: dict[str, Any], role_arn: str) -> None:
    awslambda = cloud.client("lambda")
    runtime = template.get("Globals", {}).get("Function", {}).get("Runtime", "python3.13")
    for logical_id, spec in cloud.specs.items():
        awslambda.create_function(
            FunctionName=logical_id,
            Runtime=runtime,
            Role=role_arn,
            Handler=spec.handler,
            Code={"ZipFile": _zip_dir(spec.code_dir)},
            Timeout=spec.timeout_seconds,
            MemorySize=spec.memory_mb,
            Environment={"Variables": spec.environment},
            Description=str(functions(template)[logical_id].get("Description", ""))[:256],
        )


def _set_function_environment(cloud: LocalCloud) -> None:
    """The functions share one process: their variables must agree (they do in slipway's template)."""
    merged: dict[str, str] = {}
    for spec in cloud.specs.values():
        for key, value in spec.environment.items():
            if key in merged and merged[key] != value:
                raise LocalCloudError(
                    f"functions disagree on {key} ({merged[key]!r} vs {value!r}): the in-process local cloud "
                    "needs one value per environment variable"
                )
            merged[key] = value
    merged.update(
        {
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            FAIL_ENV_VAR: ",".join(sorted(cloud.fail_deployments)) or os.environ.get(FAIL_ENV_VAR, ""),
        }
    )
    if logging.getLevelName(cloud.log_level) >= logging.WARNING:
        merged["POWERTOOLS_METRICS_DISABLED"] = "true"  # no EMF lines on a terminal
    merged.update(cloud.extra_env)
    os.environ.update(merged)
    slipway_log = logging.getLogger("slipway")  # the Powertools Logger of slipway.observability
    cloud.stack.callback(slipway_log.setLevel, slipway_log.level)
    slipway_log.setLevel(cloud.log_level)


def _create_event_sources(cloud: LocalCloud, template: dict[str, Any], resolver: Resolver) -> None:
    events, sns = cloud.client("events"), cloud.client("sns")
    for logical_id, props in functions(template).items():
        spec = cloud.specs[logical_id]
        invoke_config = props.get("EventInvokeConfig", {})
        on_failure = invoke_config.get("DestinationConfig", {}).get("OnFailure", {})
        cloud.async_targets[logical_id] = AsyncTarget(
            spec=spec,
            max_retries=int(invoke_config.get("MaximumRetryAttempts", 2)),
            on_failure_queue_arn=resolver.resolve(on_failure["Destination"]) if on_failure else None,
        )
        for event_id, event in (props.get("Events") or {}).items():
            kind, event_props = event["Type"], resolver.resolve(event.get("Properties", {}))
            if kind == "EventBridgeRule":
                rule = rule_name_of(logical_id, event_id)
                events.put_rule(Name=rule, EventPattern=json.dumps(event_props["Pattern"]), State="ENABLED")
                events.put_targets(Rule=rule, Targets=[{"Id": logical_id, "Arn": spec.arn}])
            elif kind == "SNS":
                sns.subscribe(TopicArn=event_props["Topic"], Protocol="lambda", Endpoint=spec.arn)
                cloud.sns_topics[logical_id] = event_props["Topic"]
            elif kind == "HttpApi":
                route = Route(function=logical_id, method=event_props["Method"].upper(), path=event_props["Path"])
                cloud.routes.append(route)


def _of_type(resources: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in resources.items():
        if resource["Type"] == kind:
            yield logical_id, resource.get("Properties", {})


def _zip_dir(folder: Path) -> bytes:
    """The function's code as a zip (what `sam build` would upload); a placeholder when the folder is empty."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        files = [p for p in sorted(folder.rglob("*.py")) if p.is_file()] if folder.is_dir() else []
        for path in files:
            archive.write(path, path.relative_to(folder).as_posix())
        if not files:
            archive.writestr("app.py", "def lambda_handler(event, context):\n    raise NotImplementedError\n")
    return buffer.getvalue()
