"""LocalCloud: the real ``template.yaml`` deployed into moto running in-process, with the real handlers.

What it does beyond moto (each piece is a small, named patch of moto 5.2.5, undone by ``stop()``):

- every ``AWS::Serverless::Function`` is created in moto Lambda under its logical id, and
  ``LambdaSimpleBackend.invoke`` runs ``functions/<dir>/app.py:lambda_handler`` in-process (from the state
  machine or ``lambda invoke``); an exception comes back as ``FunctionError: Unhandled`` + ``errorType``;
- the template's ``EventBridgeRule`` events become real EventBridge rules; moto matches their patterns and the
  Lambda targets it cannot deliver to are invoked asynchronously here (``Rule.send_to_targets``);
- SNS subscriptions of functions are delivered the same way (``send_sns_message``);
- CodeDeploy deployments move to Succeeded (or Failed) after ``codedeploy_delay`` seconds and emit the
  documented "CodeDeploy Deployment State-change Notification" through the same EventBridge routing;
- the CodePipeline job/approval calls moto lacks are answered and recorded (``codepipeline_results``);
- a gateway on loopback serves the template's HttpApi routes as API Gateway would (payload format 2.0) and
  ``GET /codepipeline/results``, ``GET /invocations``;
- a fake Slack Web API (``slipway_dev.local.fake_slack.FakeSlack``) records messages.

Handlers run in this process, so the functions' environment variables (which agree across functions) are set in
``os.environ`` for the life of the cloud and restored afterwards. Only one LocalCloud runs per process.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import io
import json
import logging
import os
import secrets
import threading
import time
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock
from urllib.parse import urlsplit

from slipway.models.release import release_id_for
from slipway_dev.local.handlers import FunctionSpec, HandlerRunner, InvocationResult
from slipway_dev.local.intrinsics import Resolver
from slipway_dev.local.state import STATE_FILE
from slipway_dev.template import PROJECT_ROOT, functions, load_template, rendered_definitions, table_kwargs

REGION = "eu-west-2"
ACCOUNT = "123456789012"  # moto's default account
LOCAL_BOT_TOKEN = "xoxb-local-slipway-bot-token"  # noqa: S105 - the fake Slack's token, not a secret
RESULTS_FILE = "codepipeline-results.json"
ENV_FILE = "env.json"
FAIL_ENV_VAR = "SLIPWAY_LOCAL_FAIL_DEPLOYMENTS"
EXAMPLE_COMMIT = "bb3216c31784c14a4550e0e09069cdfac00d0165"


class LocalCloudError(RuntimeError):
    """The local cloud could not start or was asked for something it does not have."""


@dataclass
class PushedImage:
    repository: str
    tag: str
    digest: str
    release_ids: dict[str, str]  # pipeline -> release id (execution name)
    event: dict[str, Any]


@dataclass
class _Route:
    function: str
    method: str
    path: str


@dataclass
class _AsyncTarget:
    spec: FunctionSpec
    max_retries: int = 2
    on_failure_queue_arn: str | None = None


@dataclass
class _World:
    """What the template deployment produced: names a user (or test) needs."""

    table_names: dict[str, str] = field(default_factory=dict)
    queue_urls: dict[str, str] = field(default_factory=dict)
    topic_arns: dict[str, str] = field(default_factory=dict)
    state_machine_arns: dict[str, str] = field(default_factory=dict)
    function_arns: dict[str, str] = field(default_factory=dict)
    config_location: str = ""
    slack_secret_arn: str = ""


def _utcnow_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_manifest(seed: str) -> str:
    """A Docker v2 manifest whose bytes (and so its sha256 digest) depend on ``seed``."""
    config_digest = "sha256:" + hashlib.sha256(f"config:{seed}".encode()).hexdigest()
    layer_digest = "sha256:" + hashlib.sha256(f"layer:{seed}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 7023,
                "digest": config_digest,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": 32654,
                    "digest": layer_digest,
                }
            ],
        },
        separators=(",", ":"),
    )


def ecr_push_event(repository: str, digest: str, tag: str, region: str = REGION) -> dict[str, Any]:
    """The EventBridge event ECR emits for a successful push (documented shape)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "account": ACCOUNT,
        "time": _utcnow_iso(),
        "region": region,
        "resources": [],
        "detail": {
            "result": "SUCCESS",
            "repository-name": repository,
            "image-digest": digest,
            "action-type": "PUSH",
            "image-tag": tag,
        },
    }


def http_api_event(
    *, method: str, path: str, query: str, headers: dict[str, str], body: bytes, route_key: str, api_id: str
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as the Lambda integration receives it.

    Like API Gateway, a body whose content type is not text is base64-encoded (Slack's form posts are).
    """
    content_type = headers.get("content-type", "")
    textual = content_type.startswith("text/") or any(
        kind in content_type for kind in ("application/json", "application/xml", "application/javascript")
    )
    now = datetime.now(UTC)
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": api_id,
            "domainName": f"{api_id}.execute-api.{REGION}.amazonaws.com",
            "domainPrefix": api_id,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": body.decode("utf-8") if textual else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": not textual,
    }


def put_event(events_client: Any, event: dict[str, Any]) -> None:
    """PutEvents for an event in the shape a target receives (events/*.json): what `aws events put-events` sends."""
    entry: dict[str, Any] = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": event.get("resources", []),
    }
    response = events_client.put_events(Entries=[entry])
    if response.get("FailedEntryCount"):
        raise LocalCloudError(f"PutEvents refused the event: {response['Entries']}")


def push_image(
    ecr: Any,
    events_client: Any,
    config_dir: Path,
    *,
    tag: str | None = None,
    repository: str = "app-images",
    seed: str | None = None,
) -> PushedImage:
    """What `docker push` + ECR do: store the image (its digest is the manifest's sha256), then emit the event."""
    from slipway.domain.config import LocalConfigSource, load_config

    tag = tag or hashlib.sha1(uuid.uuid4().bytes).hexdigest()  # noqa: S324 - a commit-like tag, not security
    image = ecr.put_image(repositoryName=repository, imageManifest=image_manifest(seed or tag), imageTag=tag)["image"]
    digest = image["imageId"]["imageDigest"]
    event = ecr_push_event(repository, digest, tag, ecr.meta.region_name)
    put_event(events_client, event)
    config = load_config(LocalConfigSource(config_dir))
    release_ids = {
        p.name: release_id_for(p.name, digest) for p in config.for_repository(repository) if p.matches_tag(tag)
    }
    return PushedImage(repository=repository, tag=tag, digest=digest, release_ids=release_ids, event=event)


class LocalCloud:
    """Start with ``start()`` (or ``with LocalCloud(...) as cloud``); see the module docstring."""

    _active: ClassVar[LocalCloud | None] = None
    _active_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        *,
        root: Path = PROJECT_ROOT,
        port: int = 0,
        host: str = "127.0.0.1",
        functions_dir: Path | None = None,
        config_dir: Path | None = None,
        state_dir: Path | None = None,
        codedeploy_delay: float = 2.0,
        time_scale: float = 1.0,
        fail_deployments: Iterable[str] = (),
        environment_name: str = "dev",
        log_level: str = "INFO",
        signing_secret: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.root = Path(root)
        self.host = host
        self.requested_port = port
        self.functions_dir = functions_dir
        self.config_dir = Path(config_dir) if config_dir else self.root / "config"
        self.state_dir = Path(state_dir) if state_dir else None
        self.codedeploy_delay = codedeploy_delay
        self.time_scale = time_scale
        self.fail_deployments: set[str] = set(fail_deployments)
        self.environment_name = environment_name
        self.log_level = log_level
        self.signing_secret = signing_secret or secrets.token_hex(16)
        self.extra_env = dict(extra_env or {})
        self.region = REGION
        self.account = ACCOUNT

        self.specs: dict[str, FunctionSpec] = {}
        self.routes: list[_Route] = []
        self.world = _World()
        self.codepipeline_results: list[dict[str, Any]] = []
        self.invocation_log: list[dict[str, Any]] = []
        self.async_errors: list[dict[str, Any]] = []
        self._jobs: dict[str, dict[str, Any]] = {}
        self._async_targets: dict[str, _AsyncTarget] = {}
        self._sns_topic_for: dict[str, str] = {}
        self._runner = HandlerRunner(on_invoke=self._record_invocation)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stack = contextlib.ExitStack()
        self._saved_env: dict[str, str] | None = None
        self._server: Any = None
        self._gateway: ThreadingHTTPServer | None = None
        self._stopping = threading.Event()
        self.slack: Any = None
        self.port = 0
        self._clients: dict[str, Any] = {}
        self.started = False

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalCloud:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalCloud:
        with LocalCloud._active_lock:
            if LocalCloud._active is not None:
                raise LocalCloudError(
                    "a LocalCloud is already running in this process (moto's backends are per process); stop it first"
                )
            LocalCloud._active = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.started = True
        return self

    def _start(self) -> None:
        from moto.moto_api._internal.models import moto_api_backend
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        from slipway_dev.local.fake_slack import FakeSlack

        self._saved_env = dict(os.environ)
        # moto's server logs every request at INFO, and its interpreter logs a whole state-machine dump for every
        # failed task (a rejection is one): the execution history already says what happened.
        for name, level in (("werkzeug", logging.WARNING), ("moto.stepfunctions", logging.CRITICAL)):
            log = logging.getLogger(name)
            self._stack.callback(log.setLevel, log.level)
            log.setLevel(level)
        os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"  # thousands of sample AMIs: seconds per start, unused
        self._configure_moto()
        moto_api_backend.reset()
        self._apply_patches()

        self._server = ThreadedMotoServer(ip_address=self.host, port=self.requested_port, verbose=False)
        self._server.start()
        self.port = int(self._server.get_host_and_port()[1])
        os.environ.update(
            {
                "MOTO_PORT": str(self.port),  # moto's Step Functions interpreter calls localhost:$MOTO_PORT
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
            }
        )
        os.environ.pop("AWS_PROFILE", None)

        self.slack = FakeSlack(token=LOCAL_BOT_TOKEN).start()
        self._start_gateway()
        self._deploy()
        self._reset_process_caches()
        if self.state_dir is not None:
            self.write_state()

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(Exception):
            if self._server is not None and self.started:
                self._stop_running_executions()
        for thread in list(self._threads):
            thread.join(timeout=2)
        if self.slack is not None:
            with contextlib.suppress(Exception):
                self.slack.stop()
        if self._gateway is not None:
            self._gateway.shutdown()
            self._gateway.server_close()
            self._gateway = None
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.stop()
            self._server = None
        self._stack.close()
        if self._saved_env is not None:
            os.environ.clear()
            os.environ.update(self._saved_env)
            self._saved_env = None
        if self.state_dir is not None and self.started:
            # The CodePipeline results go too: the next start writes an empty file, so a leftover would only
            # describe a cloud that no longer runs (read them at codepipeline_results_url while it runs).
            for name in (STATE_FILE, ENV_FILE, RESULTS_FILE):
                with contextlib.suppress(FileNotFoundError):
                    (self.state_dir / name).unlink()
        self._reset_process_caches()
        self.started = False
        with LocalCloud._active_lock:
            if LocalCloud._active is self:
                LocalCloud._active = None

    def _stop_running_executions(self) -> None:
        sfn = self.client("stepfunctions")
        for arn in self.world.state_machine_arns.values():
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="RUNNING"):
                for execution in page["executions"]:
                    sfn.stop_execution(executionArn=execution["executionArn"], cause="local cloud stopped")

    @staticmethod
    def _reset_process_caches() -> None:
        """Settings, the runtime and Powertools' secret providers are cached per process: start clean."""
        from aws_lambda_powertools.utilities import parameters
        from aws_lambda_powertools.utilities.parameters import base
        from slipway.adapters.runtime import reset_runtime

        reset_runtime()
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined] # providers hold clients bound to an old port

    # ------------------------------------------------------------------ addresses
    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def gateway_url(self) -> str:
        if self._gateway is None:
            raise LocalCloudError("the local cloud is not started")
        return f"http://127.0.0.1:{self._gateway.server_address[1]}"

    @property
    def interactivity_url(self) -> str:
        for route in self.routes:
            if route.function == "SlackInteractionsFunction":
                return self.gateway_url + route.path
        return self.gateway_url + "/slack/interactions"

    @property
    def state_machine_arn(self) -> str:
        return self.world.state_machine_arns["ReleaseStateMachine"]

    def execution_arn(self, release_id_or_arn: str) -> str:
        if release_id_or_arn.startswith("arn:"):
            return release_id_or_arn
        prefix = self.state_machine_arn.replace(":stateMachine:", ":execution:")
        return f"{prefix}:{release_id_or_arn}"

    def client(self, service: str) -> Any:
        """A boto3 client for this cloud (over HTTP, like any user's)."""
        if service not in self._clients:
            self._clients[service] = _shared_session().client(service, endpoint_url=self.endpoint)
        return self._clients[service]

    # ------------------------------------------------------------------ moto configuration and patches
    def _configure_moto(self) -> None:
        from moto.core.config import default_user_config

        saved = {key: copy.deepcopy(default_user_config.get(key)) for key in ("stepfunctions", "lambda")}

        def restore() -> None:
            for key, value in saved.items():
                default_user_config[key] = value  # type: ignore[literal-required]

        self._stack.callback(restore)
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        default_user_config["lambda"] = {"use_docker": False}

    def _apply_patches(self) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.codedeploy.models import CodeDeployBackend
        from moto.codepipeline.responses import CodePipelineResponse
        from moto.events.models import Rule
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

        cloud = self

        def lambda_invoke(
            backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
        ) -> bytes:
            fn = backend.get_function(function_name, qualifier)  # unknown function -> ResourceNotFound, as AWS
            spec = cloud.specs.get(fn.function_name)
            if spec is None:
                raise LocalCloudError(f"{fn.function_name} is not a function of the template")
            event = json.loads(body) if body else {}
            if (headers.get("X-Amz-Invocation-Type") or "") == "Event":
                cloud._invoke_async(_AsyncTarget(spec=spec, max_retries=2), event)
                return b""
            result = cloud._run(spec, event)
            if result.error is not None:
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps(result.error).encode("utf-8")
            return json.dumps(result.payload, default=str).encode("utf-8")

        def send_sns_message(
            backend: Any, function_name: str, message: str, subject: str | None = None, qualifier: str | None = None
        ) -> None:
            target = cloud._async_targets.get(function_name)
            if target is None:
                return
            cloud._invoke_async(target, cloud._sns_event(function_name, message, subject))

        original_send = Rule.send_to_targets

        def send_to_targets(rule: Any, original_event: Any, transform_input: bool = True) -> None:
            lambda_targets = [t for t in rule.targets if ":lambda:" in t["Arn"]]
            others = [t for t in rule.targets if ":lambda:" not in t["Arn"]]
            if lambda_targets and rule.event_pattern.matches_event(original_event):
                for target in lambda_targets:
                    name = target["Arn"].split(":function:", 1)[1].split(":")[0]
                    if name in cloud._async_targets:
                        cloud._invoke_async(cloud._async_targets[name], json.loads(json.dumps(original_event)))
            if others:
                clone = copy.copy(rule)
                clone.targets = others
                original_send(clone, original_event, transform_input)

        original_create_deployment = CodeDeployBackend.create_deployment

        def create_deployment(backend: Any, *args: Any, **kwargs: Any) -> str:
            deployment_id: str = original_create_deployment(backend, *args, **kwargs)
            cloud._simulate_deployment(backend, deployment_id)
            return deployment_id

        from moto.codedeploy import responses as codedeploy_responses

        original_info = codedeploy_responses._deployment_info

        def deployment_info(deployment: Any) -> dict[str, Any]:
            info: dict[str, Any] = original_info(deployment)
            error = getattr(deployment, "slipway_error_information", None)
            if error:
                info["errorInformation"] = error  # moto always answers {} here
            return info

        scaled_time = _ScaledTime(self)
        original_wait = WaitFunction._wait_interval

        def wait_interval(fn: Any, env: Any, wait_seconds: int) -> None:
            original_wait(fn, env, int(wait_seconds * cloud.time_scale))

        patches: list[Any] = [
            mock.patch.object(LambdaSimpleBackend, "invoke", lambda_invoke),
            mock.patch.object(LambdaSimpleBackend, "send_sns_message", send_sns_message),
            mock.patch.object(Rule, "send_to_targets", send_to_targets),
            mock.patch.object(CodeDeployBackend, "create_deployment", create_deployment),
            mock.patch.object(retrier_decl, "time", scaled_time),
            mock.patch.object(codedeploy_responses, "_deployment_info", deployment_info),
            mock.patch.object(WaitFunction, "_wait_interval", wait_interval),
        ]
        for name, method in _codepipeline_methods(self).items():
            patches.append(mock.patch.object(CodePipelineResponse, name, method, create=True))
        for patch in patches:
            self._stack.enter_context(patch)

    # ------------------------------------------------------------------ invocations
    def _run(self, spec: FunctionSpec, event: Any) -> InvocationResult:
        job = event.get("CodePipeline.job") if isinstance(event, dict) else None
        if isinstance(job, dict) and isinstance(job.get("id"), str) and job["id"]:
            # A job without an id is the handler's to refuse (MalformedEvent), not the cloud's to crash on.
            self.register_job(job)  # so GetJobDetails can answer for it, as on AWS
        return self._runner.invoke(spec, event)

    def _record_invocation(self, function: str, event: Any, result: InvocationResult, seconds: float) -> None:
        entry = {
            "function": function,
            "at": _utcnow_iso(),
            "seconds": round(seconds, 4),
            "error": result.error and {k: result.error[k] for k in ("errorType", "errorMessage")},
        }
        with self._lock:
            self.invocation_log.append(entry)

    @property
    def lambda_invocations(self) -> dict[str, int]:
        """Invocations per function (logical id) since start, from the in-process dispatcher."""
        return self._runner.counts()

    def invoke(self, function: str, event: Any) -> InvocationResult:
        """``lambda invoke`` over HTTP against this cloud (the path a state machine or user takes)."""
        response = self.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode("utf-8"))
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            return InvocationResult(payload=None, error=payload)
        return InvocationResult(payload=payload)

    def _invoke_async(self, target: _AsyncTarget, event: Any) -> None:
        """Lambda's asynchronous invocation: retried per EventInvokeConfig, then sent to the OnFailure queue."""

        def run() -> None:
            result = None
            for attempt in range(target.max_retries + 1):
                if self._stopping.is_set():
                    return
                result = self._run(target.spec, event)
                if result.error is None:
                    return
                if attempt < target.max_retries:
                    time.sleep(min(1.0, 0.2 * self.time_scale))
            assert result is not None and result.error is not None
            failure = {"function": target.spec.logical_id, "error": result.error, "event": event}
            with self._lock:
                self.async_errors.append(failure)
            if target.on_failure_queue_arn and not self._stopping.is_set():
                with contextlib.suppress(Exception):
                    self._send_to_queue(target.on_failure_queue_arn, failure)

        thread = threading.Thread(target=run, name=f"async-{target.spec.logical_id}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _send_to_queue(self, queue_arn: str, body: dict[str, Any]) -> None:
        name = queue_arn.rsplit(":", 1)[1]
        sqs = self.client("sqs")
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body, default=str))

    def _sns_event(self, function_name: str, message: str, subject: str | None) -> dict[str, Any]:
        topic_arn = self._sns_topic_for.get(function_name, "")
        return {
            "Records": [
                {
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
                    "EventSource": "aws:sns",
                    "Sns": {
                        "Type": "Notification",
                        "MessageId": str(uuid.uuid4()),
                        "TopicArn": topic_arn,
                        "Subject": subject,
                        "Message": message,
                        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                        "SignatureVersion": "1",
                        "Signature": "EXAMPLE",
                        "SigningCertUrl": "EXAMPLE",
                        "UnsubscribeUrl": "EXAMPLE",
                        "MessageAttributes": {},
                    },
                }
            ]
        }

    # ------------------------------------------------------------------ CodeDeploy simulation
    def _deployment_fails(self, group: str) -> bool:
        names = set(self.fail_deployments)
        names |= {n.strip() for n in os.environ.get(FAIL_ENV_VAR, "").split(",") if n.strip()}
        environments = {env.deployment.deployment_group: env.name for env in self._environments()}
        return group in names or environments.get(group, "\0") in names or "fail" in group.lower()

    def _simulate_deployment(self, backend: Any, deployment_id: str) -> None:
        """Created -> InProgress -> Succeeded/Failed, each change emitted as CodeDeploy's EventBridge event.

        The final state waits for the invocations running when the deployment was created (StartDeployment stores
        its task token after CreateDeployment returns): no deployment finishes before the call that started it.
        """
        in_flight = self._runner.in_flight()
        deployment = backend.deployments[deployment_id]
        deployment.status = "InProgress"
        deployment.start_time = time.time()

        def finish() -> None:
            self._emit_deployment_event(deployment, "START")
            if self.codedeploy_delay:
                self._stopping.wait(self.codedeploy_delay)
            self._runner.wait_finished(in_flight, timeout=60)
            if self._stopping.is_set():
                return
            failed = self._deployment_fails(deployment.deployment_group_name)
            deployment.status = "Failed" if failed else "Succeeded"
            deployment.complete_time = time.time()
            if failed:
                deployment.slipway_error_information = {
                    "code": "ECS_UPDATE_ERROR",
                    "message": f"Simulated failure of {deployment.deployment_group_name} (slipway local cloud)",
                }
            self._emit_deployment_event(deployment, "FAILURE" if failed else "SUCCESS")

        thread = threading.Thread(target=finish, name=f"codedeploy-{deployment_id}", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _emit_deployment_event(self, deployment: Any, state: str) -> None:
        application = deployment.application_name
        group = deployment.deployment_group_name
        detail = {
            "account": self.account,
            "region": self.region,
            "application": application,
            "deploymentId": deployment.deployment_id,
            "instanceGroupId": getattr(deployment.deployment_group, "deployment_group_id", str(uuid.uuid4())),
            "deploymentGroup": group,
            "state": state,
        }
        self.client("events").put_events(
            Entries=[
                {
                    "Source": "aws.codedeploy",
                    "DetailType": "CodeDeploy Deployment State-change Notification",
                    "Detail": json.dumps(detail),
                    "Resources": [
                        f"arn:aws:codedeploy:{self.region}:{self.account}:application:{application}",
                        f"arn:aws:codedeploy:{self.region}:{self.account}:deploymentgroup:{application}/{group}",
                    ],
                }
            ]
        )

    # ------------------------------------------------------------------ CodePipeline recorder
    def record_codepipeline(self, action: str, params: dict[str, Any]) -> None:
        entry = {"action": action, "at": _utcnow_iso(), **params}
        with self._lock:
            self.codepipeline_results.append(entry)
            snapshot = list(self.codepipeline_results)
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            (self.state_dir / RESULTS_FILE).write_text(json.dumps(snapshot, indent=2, default=str))

    def job(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._jobs.get(job_id)

    def register_job(self, job: dict[str, Any]) -> None:
        """Make GetJobDetails answer for a CodePipeline job (done automatically when a job event is invoked)."""
        with self._lock:
            self._jobs[str(job["id"])] = job

    # ------------------------------------------------------------------ deployment of the template
    def _function_specs(self, template: dict[str, Any], resolver: Resolver) -> dict[str, FunctionSpec]:
        globals_ = template.get("Globals", {}).get("Function", {})
        global_env = globals_.get("Environment", {}).get("Variables", {})
        specs = {}
        for logical_id, props in functions(template).items():
            code_uri = Path(props["CodeUri"])
            code_dir = (self.functions_dir / code_uri.name) if self.functions_dir else self.root / code_uri
            variables = {**global_env, **props.get("Environment", {}).get("Variables", {})}
            environment = {key: str(resolver.resolve(value)) for key, value in variables.items()}
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                code_dir=code_dir,
                handler=props.get("Handler", globals_.get("Handler", "app.lambda_handler")),
                arn=self.world.function_arns[logical_id],
                environment=environment,
                timeout_seconds=int(props.get("Timeout", globals_.get("Timeout", 30))),
                memory_mb=int(props.get("MemorySize", globals_.get("MemorySize", 512))),
            )
        return specs

    def _environments(self) -> list[Any]:
        from slipway.domain.config import LocalConfigSource, load_config

        config = load_config(LocalConfigSource(self.config_dir))
        return [env for pipeline in config.pipelines.values() for env in pipeline.environments]

    def _deploy(self) -> None:
        from slipway.domain.config import LocalConfigSource, load_config

        template = load_template(self.root / "template.yaml")
        config = load_config(LocalConfigSource(self.config_dir))
        prefix = f"slipway-{self.environment_name}"
        resolver = Resolver(region=self.region, account=self.account)
        resources: dict[str, Any] = template["Resources"]

        # Parameters first: the ones the local cloud provides, then the template's defaults.
        self.world.slack_secret_arn = self._create_slack_secret(prefix)
        bucket = f"{prefix}-config-{self.account}"
        self.world.config_location = f"s3://{bucket}/config"
        repositories = sorted({p.repository for p in config.pipelines.values()})
        provided: dict[str, Any] = {
            "EnvironmentName": self.environment_name,
            "LogLevel": self.log_level,
            "SlackSecretArn": self.world.slack_secret_arn,
            "ConfigLocation": self.world.config_location,
            "RepositoryNames": repositories,
            "SlackApiUrl": self.slack.base_url,
            "AwsEndpointUrl": self.endpoint,
        }
        for name, parameter in template.get("Parameters", {}).items():
            if name in provided:
                resolver.refs[name] = provided[name]
            elif "Default" in parameter:
                default = parameter["Default"]
                is_list = parameter.get("Type") == "CommaDelimitedList"
                resolver.refs[name] = default.split(",") if is_list and isinstance(default, str) else default
            else:
                raise LocalCloudError(f"template parameter {name} has no default and the local cloud has no value")

        # Names and ARNs of every resource, before anything refers to them.
        for logical_id, resource in resources.items():
            kind = resource["Type"]
            if kind == "AWS::DynamoDB::Table":
                name = f"{prefix}-{logical_id}"
                resolver.refs[logical_id] = name
                resolver.attrs[(logical_id, "Arn")] = f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"
            elif kind == "AWS::SQS::Queue":
                name = f"{prefix}-{logical_id}"
                resolver.refs[logical_id] = f"{self.endpoint}/{self.account}/{name}"
                resolver.attrs[(logical_id, "Arn")] = f"arn:aws:sqs:{self.region}:{self.account}:{name}"
                resolver.attrs[(logical_id, "QueueName")] = name
            elif kind == "AWS::SNS::Topic":
                name = f"{prefix}-{logical_id}"
                resolver.refs[logical_id] = f"arn:aws:sns:{self.region}:{self.account}:{name}"
                resolver.attrs[(logical_id, "TopicName")] = name
            elif kind == "AWS::Serverless::Function":
                arn = f"arn:aws:lambda:{self.region}:{self.account}:function:{logical_id}"
                resolver.refs[logical_id] = logical_id
                resolver.attrs[(logical_id, "Arn")] = arn
                self.world.function_arns[logical_id] = arn
            elif kind == "AWS::Serverless::LayerVersion":
                resolver.refs[logical_id] = f"arn:aws:lambda:{self.region}:{self.account}:layer:{logical_id}:1"
            elif kind == "AWS::Serverless::HttpApi":
                resolver.refs[logical_id] = "local"
        for logical_id, props in _of_type(resources, "AWS::Serverless::StateMachine"):
            name = str(resolver.resolve(props.get("Name", f"{prefix}-{logical_id}")))
            arn = f"arn:aws:states:{self.region}:{self.account}:stateMachine:{name}"
            resolver.refs[logical_id] = arn
            resolver.attrs[(logical_id, "Name")] = name
            resolver.attrs[(logical_id, "Arn")] = arn

        self._create_tables(resources, resolver)
        self._create_queues_and_topics(resources, resolver)
        self._upload_config(bucket)
        self.specs = self._function_specs(template, resolver)
        role_arn = self._create_role()
        self._create_functions(template, resolver, role_arn)
        self._set_function_environment()
        for logical_id, definition in rendered_definitions(
            template, lambda value: str(resolver.resolve(value)), self.root
        ).items():
            name = resolver.attrs[(logical_id, "Name")]
            arn = self.client("stepfunctions").create_state_machine(
                name=name, definition=json.dumps(definition), roleArn=role_arn, type="STANDARD"
            )["stateMachineArn"]
            self.world.state_machine_arns[logical_id] = arn
        self._create_event_sources(template, resolver)
        self._seed_world(config)

    def _create_slack_secret(self, prefix: str) -> str:
        secret = {"bot_token": LOCAL_BOT_TOKEN, "signing_secret": self.signing_secret}
        response = self.client("secretsmanager").create_secret(Name=f"{prefix}/slack", SecretString=json.dumps(secret))
        return str(response["ARN"])

    def _create_tables(self, resources: dict[str, Any], resolver: Resolver) -> None:
        dynamodb = self.client("dynamodb")
        for logical_id, props in _of_type(resources, "AWS::DynamoDB::Table"):
            kwargs = table_kwargs({"Resources": resources}, logical_id, resolver.refs[logical_id])
            dynamodb.create_table(**kwargs)
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(TableName=kwargs["TableName"], TimeToLiveSpecification=ttl)
            self.world.table_names[logical_id] = kwargs["TableName"]

    def _create_queues_and_topics(self, resources: dict[str, Any], resolver: Resolver) -> None:
        sqs, sns = self.client("sqs"), self.client("sns")
        for logical_id, props in _of_type(resources, "AWS::SQS::Queue"):
            attributes = {
                k: str(props[k]) for k in ("MessageRetentionPeriod", "VisibilityTimeout", "DelaySeconds") if k in props
            }
            url = sqs.create_queue(QueueName=resolver.attrs[(logical_id, "QueueName")], Attributes=attributes)
            resolver.refs[logical_id] = url["QueueUrl"]
            self.world.queue_urls[logical_id] = url["QueueUrl"]
        for logical_id, _props in _of_type(resources, "AWS::SNS::Topic"):
            arn = sns.create_topic(Name=resolver.attrs[(logical_id, "TopicName")])["TopicArn"]
            self.world.topic_arns[logical_id] = arn

    def _upload_config(self, bucket: str) -> None:
        s3 = self.client("s3")
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region})
        for path in sorted(self.config_dir.rglob("*")):
            if path.is_file():
                key = "config/" + path.relative_to(self.config_dir).as_posix()
                s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())

    def _create_role(self) -> str:
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
        role = self.client("iam").create_role(
            RoleName=f"slipway-{self.environment_name}-execution", AssumeRolePolicyDocument=json.dumps(trust)
        )
        return str(role["Role"]["Arn"])

    def _create_functions(self, template: dict[str, Any], resolver: Resolver, role_arn: str) -> None:
        awslambda = self.client("lambda")
        runtime = template.get("Globals", {}).get("Function", {}).get("Runtime", "python3.13")
        for logical_id, spec in self.specs.items():
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

    def _set_function_environment(self) -> None:
        """The functions share one process: their variables must agree (they do in slipway's template)."""
        merged: dict[str, str] = {}
        for spec in self.specs.values():
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
                FAIL_ENV_VAR: ",".join(sorted(self.fail_deployments)) or os.environ.get(FAIL_ENV_VAR, ""),
            }
        )
        if logging.getLevelName(self.log_level) >= logging.WARNING:
            merged["POWERTOOLS_METRICS_DISABLED"] = "true"  # no EMF lines on a terminal
        merged.update(self.extra_env)
        os.environ.update(merged)
        slipway_log = logging.getLogger("slipway")  # the Powertools Logger of slipway.observability
        self._stack.callback(slipway_log.setLevel, slipway_log.level)
        slipway_log.setLevel(self.log_level)

    def _create_event_sources(self, template: dict[str, Any], resolver: Resolver) -> None:
        template_functions = functions(template)
        events, sns = self.client("events"), self.client("sns")
        for logical_id, props in template_functions.items():
            spec = self.specs[logical_id]
            invoke_config = props.get("EventInvokeConfig", {})
            on_failure = invoke_config.get("DestinationConfig", {}).get("OnFailure", {})
            target = _AsyncTarget(
                spec=spec,
                max_retries=int(invoke_config.get("MaximumRetryAttempts", 2)),
                on_failure_queue_arn=resolver.resolve(on_failure["Destination"]) if on_failure else None,
            )
            self._async_targets[logical_id] = target
            for event_id, event in (props.get("Events") or {}).items():
                kind, event_props = event["Type"], resolver.resolve(event.get("Properties", {}))
                if kind == "EventBridgeRule":
                    rule = f"{logical_id}-{event_id}"[:64]
                    events.put_rule(Name=rule, EventPattern=json.dumps(event_props["Pattern"]), State="ENABLED")
                    events.put_targets(Rule=rule, Targets=[{"Id": logical_id, "Arn": spec.arn}])
                elif kind == "SNS":
                    sns.subscribe(TopicArn=event_props["Topic"], Protocol="lambda", Endpoint=spec.arn)
                    self._sns_topic_for[logical_id] = event_props["Topic"]
                elif kind == "HttpApi":
                    self.routes.append(
                        _Route(function=logical_id, method=event_props["Method"].upper(), path=event_props["Path"])
                    )

    # ------------------------------------------------------------------ the world the config describes
    def _seed_world(self, config: Any) -> None:
        ec2, ecr, ecs, codedeploy = (self.client(s) for s in ("ec2", "ecr", "ecs", "codedeploy"))
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{self.region}{zone}")["Subnet"][
                "SubnetId"
            ]
            for i, zone in enumerate("ab")
        ]
        security_group = ec2.create_security_group(GroupName="slipway-local-service", Description="app", VpcId=vpc)[
            "GroupId"
        ]
        repositories = sorted({p.repository for p in config.pipelines.values()})
        for repository in repositories:
            ecr.create_repository(repositoryName=repository, imageScanningConfiguration={"scanOnPush": True})
            ecr.put_image(repositoryName=repository, imageManifest=image_manifest("bootstrap"), imageTag="bootstrap")
        self._seed_sample_event_images(repositories)
        self._seed_sample_event_artifacts()
        registry = f"{self.account}.dkr.ecr.{self.region}.amazonaws.com"
        role = f"arn:aws:iam::{self.account}:role/codedeploy-service-role"
        applications: set[str] = set()
        clusters: set[str] = set()
        for pipeline in config.pipelines.values():
            for env in pipeline.environments:
                if env.cluster not in clusters:
                    ecs.create_cluster(clusterName=env.cluster)
                    clusters.add(env.cluster)
                family = f"{pipeline.name}-{env.name}-bootstrap"
                containers = [
                    {
                        "name": name,
                        "image": f"{registry}/{pipeline.repository}:bootstrap",
                        "essential": True,
                        "memory": 512,
                    }
                    for name in env.containers
                ]
                task_definition = ecs.register_task_definition(
                    family=family,
                    containerDefinitions=containers,
                    networkMode="awsvpc",
                    requiresCompatibilities=["FARGATE"],
                    cpu="256",
                    memory="512",
                )["taskDefinition"]["taskDefinitionArn"]
                ecs.create_service(
                    cluster=env.cluster,
                    serviceName=env.service,
                    taskDefinition=task_definition,
                    desiredCount=1,
                    launchType="FARGATE",
                    deploymentController={"type": "CODE_DEPLOY"},
                    networkConfiguration={
                        "awsvpcConfiguration": {
                            "subnets": subnets,
                            "securityGroups": [security_group],
                            "assignPublicIp": "DISABLED",
                        }
                    },
                )
                application = env.deployment.application
                if application not in applications:
                    codedeploy.create_application(applicationName=application, computePlatform="ECS")
                    applications.add(application)
                codedeploy.create_deployment_group(
                    applicationName=application,
                    deploymentGroupName=env.deployment.deployment_group,
                    serviceRoleArn=role,
                    deploymentConfigName="CodeDeployDefault.ECSAllAtOnce",
                    deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
                    blueGreenDeploymentConfiguration={
                        "terminateBlueInstancesOnDeploymentSuccess": {
                            "action": "TERMINATE",
                            "terminationWaitTimeInMinutes": 5,
                        },
                        "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
                    },
                    ecsServices=[{"serviceName": env.service, "clusterName": env.cluster}],
                    loadBalancerInfo={
                        "targetGroupPairInfoList": [
                            {
                                "targetGroups": [{"name": f"{env.name}-blue"}, {"name": f"{env.name}-green"}],
                                "prodTrafficRoute": {
                                    "listenerArns": [
                                        f"arn:aws:elasticloadbalancing:{self.region}:{self.account}:listener/app/"
                                        f"{env.name}/0123456789abcdef/0123456789abcdef"
                                    ]
                                },
                            }
                        ]
                    },
                )

    def _seed_sample_event_images(self, repositories: list[str]) -> None:
        """The digests named by events/*.json ECR pushes exist, so `slipway local invoke` can run them."""
        events_dir = self.root / "events"
        if not events_dir.is_dir():
            return
        ecr = self.client("ecr")
        for path in sorted(events_dir.glob("*.json")):
            try:
                event = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                continue
            detail = event.get("detail") if isinstance(event, dict) else None
            if not isinstance(detail, dict) or event.get("source") != "aws.ecr":
                continue
            repository, digest = detail.get("repository-name"), detail.get("image-digest")
            if repository not in repositories or not isinstance(digest, str):
                continue
            with contextlib.suppress(Exception):
                ecr.put_image(
                    repositoryName=repository,
                    imageManifest=image_manifest(path.name),
                    imageTag=str(detail.get("image-tag") or path.stem),
                    imageDigest=digest,
                )

    def _seed_sample_event_artifacts(self) -> None:
        """The input artifacts named by events/*.json CodePipeline jobs exist: a zip with the seed's files.

        imageDetail.json names the sample ECR push's image by tag; the taskdef/appspec files are the config's.
        """
        events_dir = self.root / "events"
        sample = events_dir / "ecr-push.json"
        if not sample.is_file():
            return
        detail = json.loads(sample.read_text(encoding="utf-8"))["detail"]
        registry = f"{self.account}.dkr.ecr.{self.region}.amazonaws.com"
        image_uri = f"{registry}/{detail['repository-name']}:{detail['image-tag']}"
        s3 = self.client("s3")
        for path in sorted(events_dir.glob("*.json")):
            try:
                job = json.loads(path.read_text(encoding="utf-8")).get("CodePipeline.job")
            except (ValueError, AttributeError):
                continue
            if not isinstance(job, dict):
                continue
            for artifact in job.get("data", {}).get("inputArtifacts", []):
                location = artifact.get("location", {}).get("s3Location", {})
                bucket, key = location.get("bucketName"), location.get("objectKey")
                if not bucket or not key:
                    continue
                with contextlib.suppress(Exception):
                    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region})
                s3.put_object(Bucket=bucket, Key=key, Body=self._artifact_zip(image_uri))

    def _artifact_zip(self, image_uri: str) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("imageDetail.json", json.dumps({"ImageURI": image_uri}))
            taskdef = self.config_dir / "taskdefs" / "app-task.json"
            appspec = self.config_dir / "appspecs" / "appspec.yaml"
            for env in ("staging", "production"):
                if taskdef.is_file():
                    archive.writestr(f"taskdef-{env}.json", taskdef.read_text(encoding="utf-8"))
                if appspec.is_file():
                    archive.writestr(f"appspec-{env}.yaml", appspec.read_text(encoding="utf-8"))
        return buffer.getvalue()

    # ------------------------------------------------------------------ helpers for tests, the demo and the CLI
    def push_image(
        self, tag: str | None = None, repository: str = "app-images", seed: str | None = None
    ) -> PushedImage:
        """Push an image (put_image with a real manifest) and send ECR's push event through EventBridge."""
        return push_image(
            self.client("ecr"), self.client("events"), self.config_dir, tag=tag, repository=repository, seed=seed
        )

    def put_event(self, event: dict[str, Any]) -> None:
        """Send an EventBridge event (in the shape a target receives) with PutEvents."""
        put_event(self.client("events"), event)

    def describe_execution(self, release_id_or_arn: str) -> dict[str, Any] | None:
        sfn = self.client("stepfunctions")
        try:
            return dict(sfn.describe_execution(executionArn=self.execution_arn(release_id_or_arn)))
        except sfn.exceptions.ExecutionDoesNotExist:
            return None

    def wait_for_execution(
        self,
        release_id_or_arn: str,
        timeout: float = 30.0,
        until: Iterable[str] = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"),
    ) -> dict[str, Any]:
        """Poll until the execution exists and reaches one of ``until`` (default: any end state)."""
        wanted = set(until)
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            last = self.describe_execution(release_id_or_arn)
            if last is not None and last["status"] in wanted:
                return last
            time.sleep(0.05)
        state = last["status"] if last else "not started"
        raise TimeoutError(f"execution {release_id_or_arn} still {state} after {timeout}s")

    def wait_for(self, predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"{what} not reached after {timeout}s")

    def execution_history(self, release_id_or_arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        paginator = sfn.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=self.execution_arn(release_id_or_arn)):
            events.extend(page["events"])
        return events

    def state_transitions(self, release_id_or_arn: str) -> int:
        """Billed state transitions of a Standard workflow = its ``...StateEntered`` history events."""
        return sum(1 for e in self.execution_history(release_id_or_arn) if e["type"].endswith("StateEntered"))

    @property
    def slack_messages(self) -> list[dict[str, Any]]:
        return list(self.slack.messages)

    def deployments(self) -> list[dict[str, Any]]:
        codedeploy = self.client("codedeploy")
        ids = codedeploy.list_deployments().get("deployments", [])
        if not ids:
            return []
        found = codedeploy.batch_get_deployments(deploymentIds=ids).get("deploymentsInfo", [])
        return sorted(found, key=lambda d: d.get("createTime") or 0)

    def state(self) -> dict[str, Any]:
        """What `.slipway/local.json` holds."""
        return {
            "pid": os.getpid(),
            "aws_endpoint": self.endpoint,
            "region": self.region,
            "gateway_url": self.gateway_url,
            "slack_base_url": self.slack.base_url,
            "slack_messages_url": self.slack.root_url + "messages",
            "interactivity_url": self.interactivity_url,
            "signing_secret": self.signing_secret,
            "functions": {logical_id: spec.arn for logical_id, spec in self.specs.items()},
            "state_machine_arn": self.state_machine_arn,
            "tables": dict(self.world.table_names),
            "queues": dict(self.world.queue_urls),
            "topics": dict(self.world.topic_arns),
            "config_location": self.world.config_location,
            "config_dir": str(self.config_dir.resolve()),
            "slack_secret_arn": self.world.slack_secret_arn,
            "codepipeline_results": str((self.state_dir or Path(".slipway")) / RESULTS_FILE),
            "sam_env_vars": str((self.state_dir or Path(".slipway")) / ENV_FILE),
            "codepipeline_results_url": self.gateway_url + "/codepipeline/results",
            "invocations_url": self.gateway_url + "/invocations",
            "environment": {k: v for spec in self.specs.values() for k, v in spec.environment.items()},
        }

    def write_state(self) -> Path:
        assert self.state_dir is not None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / STATE_FILE
        path.write_text(json.dumps(self.state(), indent=2))
        (self.state_dir / RESULTS_FILE).write_text("[]")
        (self.state_dir / ENV_FILE).write_text(json.dumps(self.sam_env_vars(), indent=2))
        return path

    def sam_env_vars(self) -> dict[str, dict[str, str]]:
        """An ``--env-vars`` file for ``sam local invoke``: each function's template variables, resolved here.

        SAM applies only variables the template declares; the template declares AWS_ENDPOINT_URL (parameter
        AwsEndpointUrl, empty on AWS), so the functions in Docker reach this cloud (see docs/local-cloud.md).
        """
        return {logical_id: dict(spec.environment) for logical_id, spec in sorted(self.specs.items())}

    # ------------------------------------------------------------------ the gateway (HTTP API + local endpoints)
    def _start_gateway(self) -> None:
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                cloud._serve(self, "GET")

            def do_POST(self) -> None:
                cloud._serve(self, "POST")

        self._gateway = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._gateway.daemon_threads = True
        thread = threading.Thread(target=self._gateway.serve_forever, name="local-gateway", daemon=True)
        thread.start()

    def _serve(self, request: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        if method == "GET" and url.path == "/codepipeline/results":
            with self._lock:
                _reply(request, 200, list(self.codepipeline_results))
            return
        if method == "GET" and url.path == "/invocations":
            _reply(request, 200, {"counts": self.lambda_invocations, "async_errors": len(self.async_errors)})
            return
        if method == "GET" and url.path == "/health":
            _reply(request, 200, {"ok": True})
            return
        if method == "POST" and url.path == "/control/codedeploy":
            try:
                wanted = json.loads(body or b"{}")
                self.fail_deployments = set(wanted.get("fail", []))
            except (ValueError, AttributeError):
                _reply(request, 400, {"message": 'expected {"fail": ["group or environment", ...]}'})
                return
            _reply(request, 200, {"fail": sorted(self.fail_deployments)})
            return
        for route in self.routes:
            if route.method == method and route.path == url.path:
                headers = {k.lower(): v for k, v in request.headers.items()}
                event = http_api_event(
                    method=method,
                    path=url.path,
                    query=url.query,
                    headers=headers,
                    body=body,
                    route_key=f"{route.method} {route.path}",
                    api_id="local",
                )
                result = self._run(self.specs[route.function], event)
                _reply_lambda_proxy(request, result)
                return
        _reply(request, 404, {"message": "Not Found"})


_SESSION: Any = None


def _shared_session() -> Any:
    """One boto3 session for every LocalCloud of the process: botocore caches service models per session."""
    global _SESSION  # noqa: PLW0603 - a cache
    if _SESSION is None:
        import boto3

        _SESSION = boto3.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
            aws_session_token="testing",  # noqa: S106
            region_name=REGION,
        )
    return _SESSION


class _ScaledTime:
    """Stands in for the ``time`` module inside moto's retrier: Retry intervals sleep ``time_scale`` x as long."""

    def __init__(self, cloud: LocalCloud) -> None:
        self._cloud = cloud

    def sleep(self, seconds: float) -> None:
        scaled = seconds * self._cloud.time_scale
        if scaled > 0:
            self._cloud._stopping.wait(scaled)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _codepipeline_methods(cloud: LocalCloud) -> dict[str, Any]:
    """Response methods for the CodePipeline job/approval actions moto does not implement: recorded, answered."""
    from moto.core.exceptions import JsonRESTError

    def params(response: Any) -> dict[str, Any]:
        return dict(json.loads(response.body or "{}"))

    def put_job_success_result(response: Any) -> str:
        cloud.record_codepipeline("PutJobSuccessResult", params(response))
        return "{}"

    def put_job_failure_result(response: Any) -> str:
        cloud.record_codepipeline("PutJobFailureResult", params(response))
        return "{}"

    def put_approval_result(response: Any) -> str:
        cloud.record_codepipeline("PutApprovalResult", params(response))
        return json.dumps({"approvedAt": time.time()})

    def get_job_details(response: Any) -> str:
        job_id = str(params(response).get("jobId"))
        job = cloud.job(job_id)
        if job is None:
            raise JsonRESTError("JobNotFoundException", f"Job {job_id} not found (the local cloud saw no such job)")
        return json.dumps({"jobDetails": {"id": job_id, "data": job.get("data", {}), "accountId": cloud.account}})

    return {
        "put_job_success_result": put_job_success_result,
        "put_job_failure_result": put_job_failure_result,
        "put_approval_result": put_approval_result,
        "get_job_details": get_job_details,
    }


def _reply(request: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
    data = json.dumps(payload, default=str).encode("utf-8")
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)


def _reply_lambda_proxy(request: BaseHTTPRequestHandler, result: InvocationResult) -> None:
    """Turn a handler's result into the HTTP response API Gateway (payload format 2.0) would send."""
    if result.error is not None:
        _reply(request, 500, {"message": "Internal Server Error"})
        return
    payload = result.payload
    if not (isinstance(payload, dict) and "statusCode" in payload):
        _reply(request, 200, payload)
        return
    body = payload.get("body") or ""
    data = base64.b64decode(body) if payload.get("isBase64Encoded") else str(body).encode("utf-8")
    request.send_response(int(payload["statusCode"]))
    headers = {k.lower(): str(v) for k, v in (payload.get("headers") or {}).items()}
    headers.setdefault("content-type", "application/json")
    for key, value in headers.items():
        if key != "content-length":
            request.send_header(key, value)
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)


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
