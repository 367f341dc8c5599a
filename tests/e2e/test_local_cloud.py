"""The embedded local cloud itself: the real template deployed into moto, handlers dispatched in-process, events
routed like EventBridge, CodeDeploy simulated, the CodePipeline calls moto lacks recorded, Slack over HTTP.

The tests of the harness itself run every function from one recorder stand-in (tests/e2e/standins/recorder, see
tests/e2e/recorder_support.py): what each function received is read back, and a function raises when the event
asks it to. The tests after them run the real handlers of functions/ end to end.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.recorder_support import recorded, recorder_options
from tests.support.clicks import click_latest
from tests.support.paths import ROOT, load_event

from slipway.models.compiled import COMPILED_FILE
from slipway_dev.local import interaction
from slipway_dev.local.base import LOCAL_PUSHER
from slipway_dev.local.cloud import LocalCloud, LocalCloudError
from slipway_dev.template import load_template, state_machines

pytestmark = pytest.mark.e2e


def deployments_by_group(cloud: LocalCloud) -> dict[str, str]:
    return {d["deploymentGroupName"]: d["status"] for d in cloud.deployments()}


# ---------------------------------------------------------------------------- the template, deployed
def test_template_resources_are_deployed_with_their_keys_and_names(recorder_cloud: LocalCloud) -> None:
    cloud = recorder_cloud
    template = load_template()
    dynamodb = cloud.client("dynamodb")
    audit = dynamodb.describe_table(TableName=cloud.world.table_names["AuditTable"])["Table"]
    expected = template["Resources"]["AuditTable"]["Properties"]
    assert audit["KeySchema"] == expected["KeySchema"]
    assert [i["IndexName"] for i in audit["GlobalSecondaryIndexes"]] == ["gsi1"]
    ttl = dynamodb.describe_time_to_live(TableName=cloud.world.table_names["StateTable"])
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"

    secret = json.loads(
        cloud.client("secretsmanager").get_secret_value(SecretId=cloud.world.slack_secret_arn)["SecretString"]
    )
    assert secret["signing_secret"] == cloud.signing_secret
    assert secret["bot_token"].startswith("xoxb-")

    bucket, _, prefix = cloud.world.config_location.removeprefix("s3://").partition("/")
    body = cloud.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/pipelines/web-app.yaml")["Body"].read()
    assert body == (ROOT / "config/pipelines/web-app.yaml").read_bytes()
    compiled = cloud.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/{COMPILED_FILE}")["Body"].read()
    pipeline_files = sorted(f"pipelines/{path.name}" for path in (ROOT / "config" / "pipelines").glob("*.yaml"))
    assert [entry["file"] for entry in json.loads(compiled)["pipelines"]] == pipeline_files
    assert "DeadLetterQueue" in cloud.world.queue_urls
    assert "ApprovalTopic" in cloud.world.topic_arns


def test_a_cancelled_transaction_loses_no_other_writer_s_item(recorder_cloud: LocalCloud) -> None:
    # moto restores whole tables after a cancelled TransactWriteItems; unserialized, writes made meanwhile by other
    # threads (another release's lock) vanished. The local cloud serves one DynamoDB request at a time.
    dynamodb = recorder_cloud.client("dynamodb")
    table = recorder_cloud.world.table_names["StateTable"]
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "race#guard"}, "sk": {"S": "X"}, "n": {"N": "1"}})

    def cancel_transactions() -> None:
        update = {
            "TableName": table,
            "Key": {"pk": {"S": "race#guard"}, "sk": {"S": "X"}},
            "UpdateExpression": "SET n = :n",
            "ConditionExpression": "n = :never",
            "ExpressionAttributeValues": {":n": {"N": "2"}, ":never": {"N": "0"}},
        }
        for _ in range(40):
            with contextlib.suppress(dynamodb.exceptions.TransactionCanceledException):
                dynamodb.transact_write_items(TransactItems=[{"Update": update}])

    canceller = threading.Thread(target=cancel_transactions)
    canceller.start()
    for n in range(200):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"race#{n}"}, "sk": {"S": "X"}})
    canceller.join()
    missing = [
        n
        for n in range(200)
        if "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": f"race#{n}"}, "sk": {"S": "X"}})
    ]
    assert missing == []


def test_state_machine_definition_has_its_substitutions_applied(recorder_cloud: LocalCloud) -> None:
    definition = recorder_cloud.client("stepfunctions").describe_state_machine(
        stateMachineArn=recorder_cloud.state_machine_arn
    )["definition"]
    assert "${" not in definition
    raw = (ROOT / state_machines(load_template())["ReleaseStateMachine"]["DefinitionUri"]).read_text()
    assert "${PrepareEnvironmentFunctionArn}" in raw
    assert recorder_cloud.world.function_arns["PrepareEnvironmentFunction"] in definition
    # the template's own default EnvironmentName, so the sample events' names (slipway-dev-...) line up
    assert recorder_cloud.state_machine_arn.endswith(":stateMachine:slipway-release-dev")


def test_functions_are_registered_under_logical_ids_with_the_template_environment(recorder_cloud: LocalCloud) -> None:
    cloud = recorder_cloud
    awslambda = cloud.client("lambda")
    names = {f["FunctionName"] for f in awslambda.list_functions()["Functions"]}
    assert names == set(cloud.specs)
    ecr = awslambda.get_function_configuration(FunctionName="EcrPushFunction")["Environment"]["Variables"]
    assert ecr["SLIPWAY_STATE_MACHINE_ARN"] == cloud.state_machine_arn
    assert ecr["SLIPWAY_STATE_TABLE"] == cloud.world.table_names["StateTable"]
    assert ecr["SLIPWAY_CONFIG_LOCATION"] == cloud.world.config_location
    assert ecr["SLIPWAY_SLACK_API_URL"] == cloud.slack.base_url
    assert ecr["POWERTOOLS_SERVICE_NAME"] == "slipway"
    prepare = awslambda.get_function_configuration(FunctionName="PrepareEnvironmentFunction")
    assert "SLIPWAY_STATE_MACHINE_ARN" not in prepare["Environment"]["Variables"]
    assert prepare["Timeout"] == 60


def test_the_world_from_config_is_seeded(recorder_cloud: LocalCloud) -> None:
    cloud = recorder_cloud
    ecs = cloud.client("ecs")
    service = ecs.describe_services(cluster="production-app-cluster", services=["production-app-service"])
    assert service["services"][0]["deploymentController"] == {"type": "CODE_DEPLOY"}
    group = cloud.client("codedeploy").get_deployment_group(
        applicationName="codedeploy-app", deploymentGroupName="codedeploy-deployment-group-staging"
    )["deploymentGroupInfo"]
    assert group["deploymentStyle"]["deploymentType"] == "BLUE_GREEN"
    assert group["ecsServices"] == [{"serviceName": "staging-app-service", "clusterName": "staging-app-cluster"}]
    sample = load_event("ecr-push.json")["detail"]
    images = cloud.client("ecr").describe_images(
        repositoryName="app-images", imageIds=[{"imageDigest": sample["image-digest"]}]
    )["imageDetails"]
    assert images[0]["imageDigest"] == sample["image-digest"]
    rules = cloud.client("events").list_rules()["Rules"]
    patterns = {r["Name"]: json.loads(r["EventPattern"]) for r in rules}
    assert patterns["EcrPushFunction-EcrPush"]["detail"]["repository-name"] == ["api-images", "app-images"]
    # The ECS-native pipeline's services run on ECS's own controller, with the strategy the config declares.
    api = ecs.describe_services(cluster="production-api-cluster", services=["production-api-service"])["services"][0]
    assert api["deploymentController"] == {"type": "ECS"}
    assert patterns["RequestApprovalFunction-EcsHookStateChange"]["detail-type"] == ["ECS Hook State Change"]
    assert patterns["DeploymentEventsFunction-EcsDeploymentStateChange"]["source"] == ["aws.ecs"]


def test_a_second_cloud_in_the_same_process_is_refused(recorder_cloud: LocalCloud) -> None:
    with pytest.raises(LocalCloudError, match="already running"):
        LocalCloud().start()


# ---------------------------------------------------------------------------- invocation semantics
def test_an_exception_comes_back_as_an_unhandled_function_error(recorder_cloud: LocalCloud) -> None:
    cloud = recorder_cloud
    result = cloud.invoke("DeploymentEventsFunction", {"recorder": {"raise": "KeyError", "message": "deploymentId"}})
    assert result.failed
    assert result.error is not None
    assert result.error["errorType"] == "KeyError"
    assert result.error["errorMessage"] == "deploymentId"
    assert result.error["stackTrace"]
    response = cloud.client("lambda").invoke(
        FunctionName="FinalizeReleaseFunction", Payload=json.dumps({"recorder": {"raise": "Rejected"}}).encode()
    )
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Rejected"
    assert cloud.invocation_log[-1]["function"] == "FinalizeReleaseFunction"
    assert cloud.invocation_log[-1]["error"] == {"errorType": "Rejected", "errorMessage": "raised as asked"}


def test_unknown_function_is_not_found(recorder_cloud: LocalCloud) -> None:
    awslambda = recorder_cloud.client("lambda")
    with pytest.raises(awslambda.exceptions.ResourceNotFoundException):
        awslambda.invoke(FunctionName="NoSuchFunction", Payload=b"{}")


def test_handlers_get_a_lambda_like_context(recorder_cloud: LocalCloud) -> None:
    cloud = recorder_cloud
    event = load_event("ecr-push.json")
    first = cloud.invoke("EcrPushFunction", event).payload
    spec = cloud.specs["EcrPushFunction"]
    assert first["function"] == "EcrPushFunction"
    assert first["arn"] == cloud.world.function_arns["EcrPushFunction"] == spec.arn
    assert first["memory_mb"] == spec.memory_mb
    assert 0 < first["remaining_ms"] <= spec.timeout_seconds * 1000
    assert first["log_group"] == "/aws/lambda/EcrPushFunction"
    assert first["event"] == event
    second = cloud.invoke("PrepareEnvironmentFunction", {}).payload
    assert second["function"] == "PrepareEnvironmentFunction"
    assert second["request_id"] != first["request_id"]
    assert cloud.lambda_invocations == {"EcrPushFunction": 1, "PrepareEnvironmentFunction": 1}


# ---------------------------------------------------------------------------- event sources
def test_eventbridge_delivers_an_event_to_the_function_whose_rule_matches(recorder_cloud: LocalCloud) -> None:
    cloud = recorder_cloud
    pushed = cloud.push_image()
    received = cloud.wait_for(
        lambda: len(recorded(cloud, "EcrPushFunction")) == 2 and recorded(cloud, "EcrPushFunction"),
        10,
        "the ECR push and CloudTrail's PutImage record delivered",
    )
    by_type = {r["event"]["detail-type"]: r["event"] for r in received}
    event = by_type["ECR Image Action"]
    assert event["source"] == "aws.ecr"
    assert event["detail"] == pushed.event["detail"]
    assert event["detail"]["image-digest"] == pushed.digest
    call = by_type["AWS API Call via CloudTrail"]["detail"]
    assert (call["eventName"], call["userIdentity"]["arn"]) == ("PutImage", LOCAL_PUSHER)
    assert call["responseElements"]["image"]["imageId"]["imageDigest"] == pushed.digest

    sample = load_event("codedeploy-deployment-success.json")
    cloud.put_event(sample)
    received = cloud.wait_for(lambda: recorded(cloud, "DeploymentEventsFunction"), 10, "the CodeDeploy event delivered")
    assert received[0]["event"]["detail"] == sample["detail"]
    assert received[0]["event"]["resources"] == sample["resources"]
    assert cloud.lambda_invocations == {"EcrPushFunction": 2, "DeploymentEventsFunction": 1}


def test_events_that_match_no_rule_invoke_nothing(recorder_cloud: LocalCloud) -> None:
    cloud = recorder_cloud
    event = load_event("ecr-push-unknown-repo.json")
    cloud.put_event(event)
    cloud.put_event(
        {
            "source": "aws.codedeploy",
            "detail-type": "CodeDeploy Deployment State-change Notification",
            "detail": {"deploymentId": "d-1", "state": "START"},
        }
    )
    assert cloud.lambda_invocations == {}


def test_sns_messages_reach_the_subscribed_function(recorder_cloud: LocalCloud) -> None:
    cloud = recorder_cloud
    topic = cloud.world.topic_arns["ApprovalTopic"]
    message = {"approval": {"token": "t"}}
    cloud.client("sns").publish(TopicArn=topic, Message=json.dumps(message), Subject="APPROVAL NEEDED")
    received = cloud.wait_for(lambda: recorded(cloud, "CodePipelineApprovalFunction"), 10, "SNS delivery")
    record = received[0]["event"]["Records"][0]
    assert record["EventSource"] == "aws:sns"
    assert record["EventSubscriptionArn"].startswith(topic + ":")
    assert record["Sns"]["TopicArn"] == topic
    assert record["Sns"]["Subject"] == "APPROVAL NEEDED"
    assert json.loads(record["Sns"]["Message"]) == message
    assert cloud.lambda_invocations == {"CodePipelineApprovalFunction": 1}


def test_async_failures_are_retried_then_sent_to_the_dead_letter_queue(recorder_cloud: LocalCloud) -> None:
    cloud = recorder_cloud
    cloud.put_event(
        {
            "source": "aws.codedeploy",
            "detail-type": "CodeDeploy Deployment State-change Notification",
            "detail": {"deploymentId": "d-UNKNOWN", "state": "SUCCESS", "recorder": {"raise": "DeploymentNotFound"}},
        }
    )
    sqs = cloud.client("sqs")
    url = cloud.world.queue_urls["DeadLetterQueue"]

    def dead_letters() -> list[dict[str, Any]]:
        return sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", [])

    messages = cloud.wait_for(dead_letters, 15, "a dead letter")
    body = json.loads(messages[0]["Body"])
    assert body["function"] == "DeploymentEventsFunction"
    assert body["error"]["errorType"] == "DeploymentNotFound"
    assert body["event"]["detail"]["deploymentId"] == "d-UNKNOWN"
    assert cloud.lambda_invocations["DeploymentEventsFunction"] == 3  # first try + MaximumRetryAttempts 2
    assert [e["function"] for e in cloud.async_errors] == ["DeploymentEventsFunction"]


def test_an_async_failure_that_clears_on_retry_is_not_dead_lettered(recorder_cloud: LocalCloud) -> None:
    cloud = recorder_cloud
    detail = {"deploymentId": "d-FLAKY", "state": "SUCCESS", "recorder": {"raise": "TransientError", "times": 1}}
    cloud.put_event(
        {"source": "aws.codedeploy", "detail-type": "CodeDeploy Deployment State-change Notification", "detail": detail}
    )
    cloud.wait_for(lambda: len(cloud.invocation_log) == 2, 15, "the retry")  # logged once each invocation returned
    assert len(recorded(cloud, "DeploymentEventsFunction")) == 2
    assert [e["error"] for e in cloud.invocation_log] == [
        {"errorType": "TransientError", "errorMessage": "raised as asked"},
        None,
    ]
    assert cloud.async_errors == []
    url = cloud.world.queue_urls["DeadLetterQueue"]
    assert cloud.client("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []


# ---------------------------------------------------------------------------- the gateway
def _http(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_gateway_serves_the_http_api_routes_as_api_gateway_does(recorder_cloud: LocalCloud) -> None:
    cloud = recorder_cloud
    form = b"payload=%7B%22type%22%3A%22block_actions%22%7D"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Signature": "v0=abc"}
    status, answer = _http(cloud.interactivity_url + "?retry=1", form, headers)
    assert status == 200
    assert answer["function"] == "SlackInteractionsFunction"
    event = answer["event"]
    sample = load_event("slack-block-actions.json")
    assert set(event) == set(sample)
    assert set(event["requestContext"]) == set(sample["requestContext"])
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "POST /slack/interactions"
    assert event["rawPath"] == "/slack/interactions"
    assert event["rawQueryString"] == "retry=1"
    assert event["headers"]["x-slack-signature"] == "v0=abc"  # header names lower-cased, as API Gateway sends them
    assert event["isBase64Encoded"] is True  # a form body, not text
    assert base64.b64decode(event["body"]) == form
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["accountId"] == cloud.account

    status, answer = _http(cloud.interactivity_url, b'{"a": 1}', {"Content-Type": "application/json"})
    assert status == 200
    assert answer["event"]["isBase64Encoded"] is False
    assert answer["event"]["body"] == '{"a": 1}'

    failing = {**headers, "X-Recorder": json.dumps({"raise": "ValueError"})}
    assert _http(cloud.interactivity_url, form, failing) == (500, {"message": "Internal Server Error"})
    assert _http(cloud.gateway_url + "/no/such/route", form, headers) == (404, {"message": "Not Found"})
    assert _http(cloud.gateway_url + "/health") == (200, {"ok": True})
    assert _http(cloud.gateway_url + "/invocations") == (
        200,
        {"counts": {"SlackInteractionsFunction": 3}, "async_errors": 0},
    )


def test_the_gateway_switches_codedeploy_failures(recorder_cloud: LocalCloud) -> None:
    cloud = recorder_cloud
    url = cloud.gateway_url + "/control/codedeploy"
    assert _http(url, json.dumps({"fail": ["staging"]}).encode()) == (200, {"fail": ["staging"]})
    assert cloud.fail_deployments == {"staging"}
    assert cloud.codedeploy.fails("codedeploy-deployment-group-staging")
    assert not cloud.codedeploy.fails("codedeploy-deployment-group-production")
    status, answer = _http(url, b"not json")
    assert status == 400
    assert "fail" in answer["message"]
    assert cloud.fail_deployments == {"staging"}


# ---------------------------------------------------------------------------- CodePipeline
def test_codepipeline_job_calls_are_answered_and_recorded(local_cloud_factory: Any, tmp_path: Path) -> None:
    cloud = local_cloud_factory(**recorder_options(tmp_path, state_dir=tmp_path))
    event = load_event("codepipeline-job.json")
    job_id = event["CodePipeline.job"]["id"]
    codepipeline = cloud.client("codepipeline")
    with pytest.raises(codepipeline.exceptions.JobNotFoundException):
        codepipeline.get_job_details(jobId=job_id)  # no function has seen the job yet

    result = cloud.invoke("CodePipelineJobFunction", event)
    assert not result.failed, result.error
    assert recorded(cloud, "CodePipelineJobFunction")[0]["event"] == event
    details = codepipeline.get_job_details(jobId=job_id)["jobDetails"]
    assert details["id"] == job_id
    assert details["accountId"] == cloud.account
    expected = [a["name"] for a in event["CodePipeline.job"]["data"]["inputArtifacts"]]
    assert [a["name"] for a in details["data"]["inputArtifacts"]] == expected

    codepipeline.put_job_success_result(jobId=job_id, outputVariables={"seen": details["id"]})
    codepipeline.put_job_failure_result(jobId=job_id, failureDetails={"type": "JobFailed", "message": "no"})
    answer = codepipeline.put_approval_result(
        pipelineName="p", stageName="s", actionName="a", token="t", result={"summary": "ok", "status": "Approved"}
    )
    assert "approvedAt" in answer
    actions = ["PutJobSuccessResult", "PutJobFailureResult", "PutApprovalResult"]
    assert [r["action"] for r in cloud.codepipeline_results] == actions
    assert cloud.codepipeline_results[0]["jobId"] == job_id
    assert cloud.codepipeline_results[0]["outputVariables"] == {"seen": job_id}
    with urllib.request.urlopen(cloud.gateway_url + "/codepipeline/results") as response:
        assert [r["action"] for r in json.loads(response.read())] == actions
    state = json.loads((tmp_path / "local.json").read_text())
    assert [r["action"] for r in json.loads(Path(state["codepipeline_results"]).read_text())] == actions


# ---------------------------------------------------------------------------- Slack signing helpers
def test_slack_signature_matches_slacks_published_example() -> None:
    # api.slack.com "Verifying requests from Slack" (also tests/fixtures/slack/signing-example.json)
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    signature = interaction.slack_signature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body)
    assert signature == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_find_button_names_the_missing_approval() -> None:
    with pytest.raises(interaction.ButtonNotFound, match="abc"):
        interaction.find_button([{"blocks": []}], "abc", "approve")


# ---------------------------------------------------------------------------- the real handlers
REAL_FLOW = [
    "ecr_push",
    "prepare_environment",
    "request_approval",
    "slack_interactions",
    "start_deployment",
    "deployment_events",
    "finalize_release",
]
real_handlers = pytest.mark.skipif(
    not all((ROOT / "functions" / name / "app.py").is_file() for name in REAL_FLOW),
    reason="the release-flow and approval handlers are not all written yet",
)


@real_handlers
def test_real_handlers_release_goes_to_production_after_approval(published_cloud: LocalCloud) -> None:
    cloud = published_cloud
    pushed = cloud.push_image()
    release_id = pushed.release_ids["web-app"]
    cloud.wait_for_execution(release_id, until=("RUNNING",))
    assert click_latest(cloud) == 200
    final = cloud.wait_for_execution(release_id, timeout=30)
    assert final["status"] == "SUCCEEDED", cloud.execution_history(release_id)[-3:]
    assert set(deployments_by_group(cloud).values()) == {"Succeeded"}
    assert len(deployments_by_group(cloud)) == 2


@real_handlers
def test_real_handlers_rejection(published_cloud: LocalCloud) -> None:
    cloud = published_cloud
    release_id = cloud.push_image().release_ids["web-app"]
    assert click_latest(cloud, "reject") == 200
    final = cloud.wait_for_execution(release_id, timeout=30)
    assert json.loads(final["output"])["finalized"]["outcome"]["status"] == "REJECTED"
    assert deployments_by_group(cloud) == {"codedeploy-deployment-group-staging": "Succeeded"}


# ---------------------------------------------------------------------------- the CLI (make demo, local invoke)
def test_local_invoke_without_a_running_cloud_starts_a_one_shot_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from slipway_dev.cli import main

    code = main(["local", "invoke", "FinalizeReleaseFunction", "-e", str(ROOT / "events/ecr-push.json"),
                 "--state-dir", str(tmp_path)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert "errorType" in json.loads(captured.out)
    assert (
        main(["local", "invoke", "Nope", "-e", str(ROOT / "events/ecr-push.json"), "--state-dir", str(tmp_path)]) == 2
    )
    assert "EcrPushFunction" in capsys.readouterr().err
    assert main(["local", "invoke", "EcrPushFunction", "-e", str(tmp_path / "missing.json")]) == 2


def test_approve_needs_a_running_cloud(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from slipway_dev.cli import main

    assert main(["local", "approve", "abc", "--state-dir", str(tmp_path)]) == 2
    assert "no local cloud is running" in capsys.readouterr().err


def test_local_up_serves_until_interrupted_and_approve_clicks_through_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`slipway local up` and `slipway local approve` in this process (the subprocess test covers the real thing)."""
    import os
    import signal
    import threading

    from slipway_dev.cli import main
    from slipway_dev.local.handle import CloudHandle, running_state

    outcome: dict[str, Any] = {}
    approval_seen: list[str] = []

    def drive() -> None:
        try:
            state = None
            for _ in range(300):
                state = running_state(tmp_path)
                if state:
                    break
                threading.Event().wait(0.1)
            assert state is not None
            handle = CloudHandle(state)
            pushed = push(handle)
            approval = None
            for _ in range(300):
                ids = interaction.approval_ids(handle.slack_messages())
                if ids:
                    approval = ids[-1]
                    break
                threading.Event().wait(0.1)
            assert approval is not None
            approval_seen.append(approval)
            outcome["unknown"] = main(["local", "approve", "no-such-approval", "--state-dir", str(tmp_path)])
            stranger = ["local", "approve", approval, "--user", "U0STRANGER", "--state-dir", str(tmp_path)]
            outcome["stranger"] = main(stranger)
            outcome["approve"] = main(["local", "approve", approval, "--state-dir", str(tmp_path)])
            sfn = handle.client("stepfunctions")
            for _ in range(300):
                described = sfn.describe_execution(executionArn=handle.execution_arn(pushed))
                if described["status"] != "RUNNING":
                    outcome["status"] = described["status"]
                    break
                threading.Event().wait(0.1)
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    def push(handle: CloudHandle) -> str:
        from slipway_dev.local.images import push_image

        return push_image(handle.client("ecr"), handle.client("events"), ROOT / "config").release_ids["web-app"]

    driver = threading.Thread(target=drive)
    driver.start()
    code = main(
        ["local", "up", "--port", "0", "--codedeploy-delay", "0", "--time-scale", "0", "--state-dir", str(tmp_path)]
    )
    driver.join(timeout=60)
    assert code == 0
    assert outcome == {"unknown": 2, "stranger": 1, "approve": 0, "status": "SUCCEEDED"}
    err = capsys.readouterr().err
    assert f"approve {approval_seen[0]} as U0STRANGER: refused: Refused: you are not an approver for web-app → " in err
    assert not (tmp_path / "local.json").exists()


# ---------------------------------------------------------------------------- QA fixes (local cloud and CLI)
def test_local_invoke_of_a_codepipeline_job_without_id_returns_the_handlers_malformed_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cloud must not crash on the event (HTTP 500): the handler gets it and its error comes back."""
    from slipway_dev.cli import main

    event = load_event("codepipeline-job.json")
    del event["CodePipeline.job"]["id"]
    path = tmp_path / "job-without-id.json"
    path.write_text(json.dumps(event))
    code = main(["local", "invoke", "CodePipelineJobFunction", "-e", str(path), "--state-dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 1, captured
    payload = json.loads(captured.out)
    assert payload["errorType"] == "MalformedEvent"
    assert "CodePipeline.job.id" in payload["errorMessage"]
    assert "CodePipelineJobFunction failed: MalformedEvent" in captured.err


def test_stop_removes_every_state_file(local_cloud_factory: Any, tmp_path: Path) -> None:
    cloud = local_cloud_factory(**recorder_options(tmp_path / "run", state_dir=tmp_path))
    event = load_event("codepipeline-job.json")
    assert not cloud.invoke("CodePipelineJobFunction", event).failed
    cloud.client("codepipeline").put_job_success_result(jobId=event["CodePipeline.job"]["id"])
    written = {"local.json", "env.json", "codepipeline-results.json"}
    assert written <= {p.name for p in tmp_path.iterdir()}
    assert json.loads((tmp_path / "codepipeline-results.json").read_text())  # it recorded the job
    cloud.stop()
    assert not written & {p.name for p in tmp_path.iterdir()}


def test_the_local_cloud_is_seeded_from_the_config_folder_it_is_given(local_cloud_factory: Any, tmp_path: Path) -> None:
    import shutil

    config = tmp_path / "my-config"
    shutil.copytree(ROOT / "config", config)
    pipeline_file = config / "pipelines" / "web-app.yaml"
    pipeline_file.write_text(
        pipeline_file.read_text()
        .replace("repository: app-images", "repository: my-images")
        .replace("staging-app-cluster", "my-staging-cluster")
    )
    cloud = local_cloud_factory(**recorder_options(tmp_path, config_dir=config))
    repositories = {r["repositoryName"] for r in cloud.client("ecr").describe_repositories()["repositories"]}
    assert "my-images" in repositories
    assert "app-images" not in repositories
    clusters = cloud.client("ecs").list_clusters()["clusterArns"]
    assert any(arn.endswith("/my-staging-cluster") for arn in clusters)
    bucket, _, prefix = cloud.world.config_location.removeprefix("s3://").partition("/")
    body = cloud.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/pipelines/web-app.yaml")["Body"].read()
    assert b"repository: my-images" in body
    assert cloud.state()["config_dir"] == str(config.resolve())


def test_config_option_defaults_to_the_current_directorys_config_then_the_packaged_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from slipway_dev.cli import build_parser
    from slipway_dev.cli.local import ConfigDirError, _config_arg
    from slipway_dev.template import PROJECT_ROOT

    parser = build_parser()
    monkeypatch.chdir(tmp_path)
    for command in ("up", "demo"):
        assert _config_arg(parser.parse_args(["local", command])) == PROJECT_ROOT / "config"
    (tmp_path / "config" / "pipelines").mkdir(parents=True)
    for command in ("up", "demo"):
        assert _config_arg(parser.parse_args(["local", command])) == Path("config")
        assert _config_arg(parser.parse_args(["local", command, "--config", str(ROOT / "config")])) == ROOT / "config"
    with pytest.raises(ConfigDirError, match="not a slipway config folder"):
        _config_arg(parser.parse_args(["local", "up", "--config", str(tmp_path / "nowhere")]))


HANDLER_THAT_LOGS = """
from slipway.observability import instrument, logger


@instrument(trace=False)
def lambda_handler(event, context):
    logger.info("before " + event["me"])
    event["barrier"].wait(timeout=10)  # both invocations have started (and injected their context)
    logger.info("after " + event["me"])
    return {"ok": True}
"""


def test_concurrent_in_process_invocations_log_their_own_lambda_context(tmp_path: Path) -> None:
    import io
    import logging
    import threading

    from slipway.observability import logger
    from slipway_dev.local.handlers import FunctionSpec, HandlerRunner

    specs = []
    for name in ("PrepareEnvironmentFunction", "DeploymentEventsFunction"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "app.py").write_text(HANDLER_THAT_LOGS)
        arn = f"arn:aws:lambda:eu-west-2:123456789012:function:{name}"
        specs.append(FunctionSpec(name, folder, "app.lambda_handler", arn, {}))
    runner = HandlerRunner()
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(logger.registered_formatter)
    logger.addHandler(capture)
    level = logger.log_level
    logger.setLevel("INFO")  # an earlier local cloud in this process may have set WARNING or ERROR
    barrier = threading.Barrier(2)
    try:
        threads = [
            threading.Thread(target=runner.invoke, args=(spec, {"barrier": barrier, "me": spec.logical_id}))
            for spec in specs
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=15)
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    assert len(lines) == 4, stream.getvalue()
    request_ids: dict[str, set[str]] = {}
    for line in lines:
        assert line["message"].split()[1] == line["function_name"], lines  # this invocation's, not the other's
        request_ids.setdefault(line["function_name"], set()).add(line["function_request_id"])
    assert sorted(request_ids) == sorted(s.logical_id for s in specs)
    assert all(len(ids) == 1 for ids in request_ids.values())  # before and after: the same invocation


def _non_loopback_ipv4() -> str | None:
    import socket

    from slipway_dev.local.containers import interface_ipv4, is_loopback

    for _, name in socket.if_nameindex():
        try:
            address = interface_ipv4(name)
        except OSError:
            continue
        if not is_loopback(address):
            return address
    return None


@real_handlers
def test_off_loopback_for_containers_with_a_freshly_signed_click_event(
    local_cloud_factory: Any, tmp_path: Path
) -> None:
    """`slipway local up --host ADDR` as `make sam-local` runs it: the cloud listens where containers reach it, the
    env file names that address, moto's interpreter still reaches its loopback twin, and a click written with
    `local approve --write-event` approves when invoked as `sam local invoke -e` would."""
    address = _non_loopback_ipv4()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to listen on")
    cloud = local_cloud_factory(host=address, state_dir=tmp_path)
    assert cloud.endpoint.startswith(f"http://{address}:")
    env_file = json.loads((tmp_path / "env.json").read_text())
    assert env_file["EcrPushFunction"]["AWS_ENDPOINT_URL"] == cloud.endpoint
    assert env_file["RequestApprovalFunction"]["SLIPWAY_SLACK_API_URL"].startswith(f"http://{address}:")
    state = json.loads((tmp_path / "local.json").read_text())
    assert state["container_host"] == address
    assert state["sam_parameters"]["AwsEndpointUrl"] == cloud.endpoint
    assert state["sam_parameters"]["RepositoryNames"] == "api-images,app-images"

    release_id = cloud.push_image().release_ids["web-app"]
    posts = cloud.wait_for(
        lambda: [m for m in cloud.slack_messages if interaction.approval_ids([m])], 30, "an approval message"
    )
    approval_id = interaction.approval_ids(posts)[-1]
    button = interaction.find_button(posts, approval_id, "approve")
    payload = interaction.block_actions_payload(button, "U0APPROVER1", cloud.slack.response_url("approval"))
    event = interaction.signed_event(payload, cloud.signing_secret, cloud.interactivity_url)
    assert event["headers"]["x-slack-signature"].startswith("v0=")
    answer = cloud.invoke("SlackInteractionsFunction", event)
    assert answer.error is None and answer.payload["statusCode"] == 200, answer
    final = cloud.wait_for_execution(release_id, timeout=30)
    assert final["status"] == "SUCCEEDED", cloud.execution_history(release_id)[-3:]
