"""LocalCloud: the real ``template.yaml`` deployed into moto running in-process, with the real handlers; the facade
over the parts below, and the one API tests, the demo, the CLI and the benchmark use.

- ``patches``: moto runs the functions (Lambda dispatcher, EventBridge and SNS delivery, scaled waits/retries);
- ``deploy``: the template's resources, functions, state machines and event sources;
- ``seed``: the world the config describes (VPC, ECR, ECS, CodeDeploy) and what the sample events name;
- ``codedeploy``: deployments finish on their own and emit CodeDeploy's state-change event;
- ``accounts``: environments in other accounts and regions (assumed roles with their trust checked, ECR
  replication after ``replication_delay`` seconds, events forwarded to the control plane's bus);
- ``ecs_deployments``: ECS service deployments (deploymentController ECS) likewise, with ECS's event;
- ``codepipeline``: the CodePipeline job/approval calls moto lacks, answered and recorded;
- ``gateway``: the HttpApi routes on loopback as API Gateway serves them, and the local endpoints;
- ``events``: every event it sends, built from ``events/*.json``; ``images``: ``docker push`` + ECR;
- ``queries``: executions, histories, deployments read back; a fake Slack (``fake_slack``) records messages;
- ``faults``: the fault mode (``aws_faults``, ``slack_faults``): a seeded share of the handlers' AWS calls and of
  the fake Slack's calls fail.

Handlers run in this process, so the functions' environment variables (which agree across functions) are set in
``os.environ`` for the life of the cloud and restored afterwards. Only one LocalCloud runs per process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from slipway_dev.iam.recorder import RECORDER, Stack
from slipway_dev.local.base import (
    ACCOUNT,
    ENV_FILE,
    LOCAL_BOT_TOKEN,
    LOCAL_PUSHER,
    REGION,
    RESULTS_FILE,
    LocalCloudError,
    Route,
    World,
    shared_session,
    utcnow_iso,
)
from slipway_dev.local.codedeploy import CodeDeploySimulation
from slipway_dev.local.codepipeline import CodePipelineRecorder
from slipway_dev.local.containers import container_host as container_host_for
from slipway_dev.local.containers import for_containers, is_loopback
from slipway_dev.local.ecs_deployments import EcsDeploymentSimulation
from slipway_dev.local.events import put_event
from slipway_dev.local.fake_slack import SlackFaults
from slipway_dev.local.faults import AwsFaults, handler_client_patch
from slipway_dev.local.handlers import FunctionSpec, HandlerRunner, InvocationResult
from slipway_dev.local.images import PushedImage, push_image
from slipway_dev.local.intrinsics import Resolver
from slipway_dev.local.patches import AsyncTarget, configure_moto, moto_patches
from slipway_dev.local.queries import CloudQueries
from slipway_dev.local.state import STATE_FILE
from slipway_dev.template import PROJECT_ROOT


class LocalCloud(CloudQueries):
    """Start with ``start()`` (or ``with LocalCloud(...) as cloud``); see the module docstring.

    ``handler_file`` runs every function of the template from that one file instead of its own code (its
    ``lambda_handler`` tells them apart by ``context.function_name``, the logical id): for tests of the local cloud
    itself (tests/e2e/standins/recorder).
    """

    _active: ClassVar[LocalCloud | None] = None
    _active_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        *,
        root: Path = PROJECT_ROOT,
        port: int = 0,
        host: str = "127.0.0.1",
        handler_file: Path | None = None,
        config_dir: Path | None = None,
        state_dir: Path | None = None,
        codedeploy_delay: float = 2.0,
        time_scale: float = 1.0,
        fail_deployments: Iterable[str] = (),
        environment_name: str = "dev",
        log_level: str = "INFO",
        signing_secret: str | None = None,
        extra_env: dict[str, str] | None = None,
        container_host: str | None = None,
        aws_faults: AwsFaults | None = None,
        slack_faults: SlackFaults | None = None,
        replication_delay: float | None = 0.0,
    ) -> None:
        self.root = Path(root)
        self.host = host
        self.container_host = container_host_for(host, container_host)  # the name containers use for host
        self.requested_port = port
        self.handler_file = Path(handler_file) if handler_file else None
        self.config_dir = Path(config_dir) if config_dir else self.root / "config"
        self.state_dir = Path(state_dir) if state_dir else None
        self.codedeploy_delay = codedeploy_delay
        self.time_scale = time_scale
        self.fail_deployments: set[str] = set(fail_deployments)
        self.environment_name = environment_name
        self.log_level = log_level
        self.signing_secret = signing_secret or secrets.token_hex(16)
        self.extra_env = dict(extra_env or {})
        self.aws_faults = aws_faults  # a share of the handlers' AWS calls fails (slipway_dev.local.faults)
        self.slack_faults = slack_faults  # a share of the fake Slack's calls fails or times out
        self.region = REGION
        self.account = ACCOUNT
        self.replication_delay = replication_delay  # seconds until a push reaches other regions; None: never
        self.replica_regions: set[str] = set()  # filled from the config at start
        self.places: dict[str, Any] = {}  # "account/region" -> slipway_dev.local.accounts.Place

        self.specs: dict[str, FunctionSpec] = {}
        self.routes: list[Route] = []
        self.world = World()
        self.resolver: Resolver | None = None  # the deployed stack's names (set by deploy_template)
        self.invocation_log: list[dict[str, Any]] = []
        self.async_errors: list[dict[str, Any]] = []
        self.async_targets: dict[str, AsyncTarget] = {}  # logical id -> its EventInvokeConfig
        self.sns_topics: dict[str, str] = {}  # logical id -> the topic it subscribes to
        self.codepipeline = CodePipelineRecorder(self.state_dir, self.account)
        self.codedeploy = CodeDeploySimulation(self)
        self.ecs_deployments = EcsDeploymentSimulation(self)
        self.runner = HandlerRunner(on_invoke=self._record_invocation, scope=self._function_wiring)
        self._wirings: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.stack = contextlib.ExitStack()  # what stop() undoes: moto patches and settings, logger levels
        self.stopping = threading.Event()
        self.slack: Any = None
        self.port = 0
        self.started = False
        self._threads: list[threading.Thread] = []
        self._saved_env: dict[str, str] | None = None
        self._server: Any = None
        self._loopback_server: Any = None
        self._gateway: ThreadingHTTPServer | None = None
        self._clients: dict[str, Any] = {}

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

        from slipway.domain.config import LocalConfigSource, load_config
        from slipway_dev.iam.target_roles import target_roles
        from slipway_dev.local import accounts
        from slipway_dev.local.deploy import deploy_template
        from slipway_dev.local.fake_slack import FakeSlack
        from slipway_dev.local.gateway import start_gateway
        from slipway_dev.local.seed import seed_world

        self._saved_env = dict(os.environ)
        # moto's server logs every request at INFO, and its interpreter logs a whole state-machine dump for every
        # failed task (a rejection is one): the execution history already says what happened.
        for name, level in (("werkzeug", logging.WARNING), ("moto.stepfunctions", logging.CRITICAL)):
            log = logging.getLogger(name)
            self.stack.callback(log.setLevel, log.level)
            log.setLevel(level)
        os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"  # thousands of sample AMIs: seconds per start, unused
        configure_moto(self.stack)
        moto_api_backend.reset()
        for patch in [
            *moto_patches(self),
            *self.codedeploy.patches(),
            *self.ecs_deployments.patches(),
            *self.codepipeline.patches(),
            *accounts.patches(self),
        ]:
            self.stack.enter_context(patch)
        if self.aws_faults is not None:
            self.stack.enter_context(handler_client_patch(self.aws_faults))

        self._server = ThreadedMotoServer(ip_address=self.host, port=self.requested_port, verbose=False)
        self._server.start()
        self.port = int(self._server.get_host_and_port()[1])
        internal_port = self.port
        if not is_loopback(self.host):
            # moto's Step Functions interpreter calls localhost:$MOTO_PORT: a second server on loopback, over the
            # same in-process backends, answers it.
            self._loopback_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._loopback_server.start()
            internal_port = int(self._loopback_server.get_host_and_port()[1])
        os.environ.update(
            {
                "MOTO_PORT": str(internal_port),
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
            }
        )
        os.environ.pop("AWS_PROFILE", None)

        self.slack = FakeSlack(token=LOCAL_BOT_TOKEN, host=self.host).start()
        self.slack.faults = self.slack_faults
        self._gateway = start_gateway(self)
        config = load_config(LocalConfigSource(self.config_dir))
        self.replica_regions = accounts.replica_regions(self, config)
        deploy_template(self, config)
        assert self.resolver is not None
        # one key per cloud: a later cloud may reuse the port, with another secret ARN
        deploy_roles = target_roles(
            config,
            self.config_dir,
            control_plane_account=self.account,
            control_plane_region=self.region,
            control_plane_roles=self.environment_function_roles,
        )
        RECORDER.use_stack(
            Stack(f"local-cloud-{uuid.uuid4().hex}", self.resolver, self.state_machine_arn, deploy_roles)
        )
        seed_world(self, config)
        self._reset_process_caches()
        if self.state_dir is not None:
            self.write_state()

    def stop(self) -> None:
        self.stopping.set()
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
        for server in (self._server, self._loopback_server):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()
        self._server = self._loopback_server = None
        self.stack.close()
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

    def _function_wiring(self, spec: FunctionSpec) -> Any:
        """Each function gets its own wiring (clients, caches, secret provider), built from its own environment,
        as each Lambda function has its own execution environment: one function's cache never serves another's
        calls, and the IAM check sees every call each function would make."""
        from slipway.settings import Settings
        from slipway.wiring import Wiring, scoped_wiring

        with self.lock:
            made = self._wirings.get(spec.logical_id)
            if made is None:
                made = self._wirings[spec.logical_id] = Wiring(Settings.from_env(spec.environment))
        return scoped_wiring(made)

    @staticmethod
    def _reset_process_caches() -> None:
        """Settings, the wiring and Powertools' secret providers are cached per process: start clean."""
        from aws_lambda_powertools.utilities import parameters
        from aws_lambda_powertools.utilities.parameters import base

        from slipway.wiring import reset_wiring

        reset_wiring()
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined] # providers hold clients bound to an old port

    def start_thread(self, target: Callable[[], None], name: str) -> None:
        """A daemon thread that stop() waits for (briefly): async invocations, deployment simulations."""
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self.lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    @property
    def environment_function_roles(self) -> list[str]:
        """The roles of the functions that act on environments (what a deploy role trusts)."""
        from slipway_dev.iam.target_roles import ENVIRONMENT_FUNCTIONS

        assert self.resolver is not None
        return [str(self.resolver.attrs[(f"{name}Role", "Arn")]) for name in ENVIRONMENT_FUNCTIONS]

    # ------------------------------------------------------------------ addresses
    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def gateway_url(self) -> str:
        if self._gateway is None:
            raise LocalCloudError("the local cloud is not started")
        return f"http://{self.host}:{self._gateway.server_address[1]}"

    @property
    def interactivity_url(self) -> str:
        for route in self.routes:
            if route.function == "SlackInteractionsFunction":
                return self.gateway_url + route.path
        return self.gateway_url + "/slack/interactions"

    def client(self, service: str) -> Any:
        """A boto3 client for this cloud (over HTTP, like any user's)."""
        if service not in self._clients:
            self._clients[service] = shared_session().client(service, endpoint_url=self.endpoint)
        return self._clients[service]

    # ------------------------------------------------------------------ invocations
    def run(self, spec: FunctionSpec, event: Any) -> InvocationResult:
        """Run a function's handler in this process (every invocation, whatever its source, comes here)."""
        self.codepipeline.register_event(event)  # so GetJobDetails can answer for its job, as on AWS
        return self.runner.invoke(spec, event)

    def _record_invocation(self, function: str, event: Any, result: InvocationResult, seconds: float) -> None:
        entry = {
            "function": function,
            "at": utcnow_iso(),
            "seconds": round(seconds, 4),
            "error": result.error and {k: result.error[k] for k in ("errorType", "errorMessage")},
        }
        with self.lock:
            self.invocation_log.append(entry)

    @property
    def lambda_invocations(self) -> dict[str, int]:
        """Invocations per function (logical id) since start, from the in-process dispatcher."""
        return self.runner.counts()

    def invoke(self, function: str, event: Any) -> InvocationResult:
        """``lambda invoke`` over HTTP against this cloud (the path a state machine or user takes)."""
        response = self.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode("utf-8"))
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            return InvocationResult(payload=None, error=payload)
        return InvocationResult(payload=payload)

    # ------------------------------------------------------------------ CodePipeline recorder
    @property
    def codepipeline_results(self) -> list[dict[str, Any]]:
        """What the functions told CodePipeline (PutJobSuccessResult, ...), oldest first."""
        return self.codepipeline.results

    def record_codepipeline(self, action: str, params: dict[str, Any]) -> None:
        self.codepipeline.record(action, params)

    def job(self, job_id: str) -> dict[str, Any] | None:
        return self.codepipeline.job(job_id)

    def register_job(self, job: dict[str, Any]) -> None:
        """Make GetJobDetails answer for a CodePipeline job (done automatically when a job event is invoked)."""
        self.codepipeline.register_job(job)

    # ------------------------------------------------------------------ helpers for tests, the demo and the CLI
    def push_image(
        self,
        tag: str | None = None,
        repository: str = "app-images",
        seed: str | None = None,
        pusher: str | None = LOCAL_PUSHER,
    ) -> PushedImage:
        """Push an image (put_image with a real manifest) and send CloudTrail's PutImage record (by ``pusher``; None:
        none) and ECR's push event through EventBridge."""
        return push_image(
            self.client("ecr"),
            self.client("events"),
            self.config_dir,
            tag=tag,
            repository=repository,
            seed=seed,
            pusher=pusher,
        )

    def put_event(self, event: dict[str, Any]) -> None:
        """Send an EventBridge event (in the shape a target receives) with PutEvents."""
        put_event(self.client("events"), event)

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
            "container_host": self.container_host,
            # as `sam local invoke --parameter-overrides` takes them (lists comma-joined), URLs as containers see them
            "sam_parameters": for_containers(
                {
                    name: ",".join(value) if isinstance(value, list) else str(value)
                    for name, value in self.world.parameters.items()
                },
                self.host,
                self.container_host,
            ),
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
        """An ``--env-vars`` file for ``sam local invoke``: each function's template variables, resolved here, with
        this cloud's URLs as a container reaches them (``container_host``; slipway_dev.local.containers).

        SAM applies only variables the template declares; the template declares AWS_ENDPOINT_URL (parameter
        AwsEndpointUrl, empty on AWS), so the functions in Docker reach this cloud (see docs/local-cloud.md).
        """
        return {
            logical_id: for_containers(spec.environment, self.host, self.container_host)
            for logical_id, spec in sorted(self.specs.items())
        }
