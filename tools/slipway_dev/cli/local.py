"""`slipway local ...`: the embedded local cloud from the command line.

- ``up [--port 4566] [--host ADDR|docker-bridge] [--config DIR]``  start it and keep it running (Ctrl-C stops
  it); writes .slipway/local.json and env.json (``sam local invoke --env-vars``)
- ``invoke FUNCTION -e EVENT``     like ``sam local invoke``, without Docker: prints the result, exit 1 on error
- ``approve|reject APPROVAL_ID [--write-event FILE]``   a signed Slack button click, as the approver would send
  it; exit 1 with Slack's reply when slipway refused the click (or, with --write-event, the click written as a
  freshly signed API Gateway event for ``sam local invoke -e``)
- ``demo [--pipeline NAME] [--reject] [--fail-staging] [--config DIR]``  one release, shown as it happens; exit 0
  only if its last environment succeeded

``--pipeline`` defaults to the only pipeline of the config (and is required when there are several); the default
approver is the first user of the approving environment's ``approval.approvers``.

``--config DIR`` defaults to ``./config`` when the current directory has one, else the packaged example config.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from slipway_dev.local.handle import state_dir_default

NO_CLOUD = "no local cloud is running (start one with `slipway local up`, or pass --state-dir)"


def register(subparsers: Any) -> None:
    from slipway_dev.cli import subcommands

    local = subparsers.add_parser("local", help="the embedded local cloud (moto): up, invoke, approve, demo")
    commands = subcommands(local, dest="local_command", required=True, metavar="SUBCOMMAND")

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help="where local.json lives (default: $SLIPWAY_LOCAL_DIR or .slipway)",
        )

    up = commands.add_parser("up", help="start the local cloud and keep it running")
    up.add_argument("--port", type=int, default=4566, help="AWS endpoint port (0 = any free port)")
    up.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the cloud, the fake Slack and the interactivity endpoint listen on (default 127.0.0.1); "
        "for `sam local invoke` on Linux, `docker-bridge` (docker0's address, which containers reach)",
    )
    up.add_argument(
        "--container-host",
        default=None,
        help="the name containers use for that address in env.json (default: host.docker.internal when "
        "listening on loopback, as Docker Desktop provides; else the address itself)",
    )
    up.add_argument("--codedeploy-delay", type=float, default=2.0, help="seconds until a deployment finishes")
    up.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiplier for Step Functions Wait states and Retry intervals (0 = instant)",
    )
    up.add_argument(
        "--fail-deployments",
        default="",
        help="comma-separated deployment groups or environments whose deployments fail",
    )
    up.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="the functions' log level"
    )
    config_option(up)
    common(up)
    up.set_defaults(func=run_up)

    invoke = commands.add_parser("invoke", help="invoke a function by logical id with an event file")
    invoke.add_argument("function", help="logical id in template.yaml, e.g. EcrPushFunction")
    invoke.add_argument("-e", "--event", type=Path, required=True, help="event JSON file (events/...)")
    common(invoke)
    invoke.set_defaults(func=run_invoke)

    for decision in ("approve", "reject"):
        parser = commands.add_parser(decision, help=f"{decision} an approval as a Slack user would (signed)")
        parser.add_argument("approval_id", help="the approval id (the value of the message's buttons)")
        parser.add_argument(
            "--user", default=None, help="Slack user id (default: the first approver of the approval's environment)"
        )
        pipeline_option(parser)
        parser.add_argument(
            "--write-event",
            type=Path,
            default=None,
            metavar="FILE",
            help="write the signed request as an API Gateway event (like events/slack-block-actions.json, signed "
            "now, valid for 5 minutes) for `sam local invoke SlackInteractionsFunction -e FILE`, instead of sending it",
        )
        common(parser)
        parser.set_defaults(func=run_decision, decision=decision)

    demo = commands.add_parser("demo", help="one release through the local cloud, shown as it happens")
    demo.add_argument("--reject", action="store_true", help="reject the approval")
    demo.add_argument("--fail-staging", action="store_true", help="make the first environment's deployment fail")
    pipeline_option(demo)
    config_option(demo)
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the release to end")
    common(demo)
    demo.set_defaults(func=run_demo)


def config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="the config folder the local cloud is seeded from (pipelines/, taskdefs/, appspecs/; "
        "default: ./config when it exists, else the packaged example)",
    )


def pipeline_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pipeline", default=None, help="the pipeline (default: the only one in the config; required if several)"
    )


def _config_arg(args: argparse.Namespace) -> Path:
    """``--config``, checked, else the default folder."""
    if args.config is None:
        return _config_dir()
    folder = Path(args.config)
    if not (folder / "pipelines").is_dir():
        raise ConfigDirError(f"--config {folder}: not a slipway config folder (no {folder / 'pipelines'} folder)")
    return folder


class ConfigDirError(Exception):
    """``--config`` does not name a config folder."""


def _state_dir(args: argparse.Namespace) -> Path:
    return Path(args.state_dir) if args.state_dir is not None else state_dir_default()


def _config_dir() -> Path:
    from slipway_dev.template import PROJECT_ROOT

    return Path("config") if Path("config").is_dir() else PROJECT_ROOT / "config"


def _console() -> Any:
    """rich's console; when the output is not a terminal, lines are not wrapped (a digest stays on one line)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=not sys.stdout.isatty())


def run_up(args: argparse.Namespace) -> int:
    from slipway_dev.local.cloud import LocalCloud
    from slipway_dev.local.containers import HostError, listen_address

    console = _console()
    try:
        config_dir = _config_arg(args)
    except ConfigDirError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    try:
        host = listen_address(args.host)
    except HostError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    fail = [name.strip() for name in args.fail_deployments.split(",") if name.strip()]
    cloud = LocalCloud(
        config_dir=config_dir,
        host=host,
        container_host=args.container_host,
        port=args.port,
        state_dir=_state_dir(args),
        codedeploy_delay=args.codedeploy_delay,
        time_scale=args.time_scale,
        fail_deployments=fail,
        log_level=args.log_level,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            cloud.start()
        except OSError as exc:
            console.print(f"[red]cannot start the local cloud on {host} port {args.port}: {exc}[/red]")
            return 1
        state = cloud.state()
        console.print(f"[bold green]slipway local cloud up[/bold green] (pid {os.getpid()})")
        for key in ("aws_endpoint", "interactivity_url", "slack_messages_url", "state_machine_arn", "config_dir"):
            console.print(f"  {key:20} {state[key]}")
        console.print(f"  {'codepipeline results':20} {state['codepipeline_results_url']}")
        console.print(f"  {'state file':20} {_state_dir(args) / 'local.json'}")
        console.print(
            f"  {'sam --env-vars':20} {state['sam_env_vars']} (containers reach the cloud as {cloud.container_host})"
        )
        console.print(f"  export AWS_ENDPOINT_URL={cloud.endpoint}   # for aws / boto3 / slipway local demo")
        console.print("[dim]Ctrl-C to stop[/dim]")
        sys.stdout.flush()
        while not stop.wait(0.2):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if cloud.started:
            cloud.stop()
            console.print("local cloud stopped")
    return 0


def run_invoke(args: argparse.Namespace) -> int:
    from slipway_dev.local.handle import CloudHandle, running_state

    try:
        event = json.loads(Path(args.event).read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(f"{args.event}: no such event file", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"{args.event}: not valid JSON: {exc}", file=sys.stderr)
        return 2
    state = running_state(_state_dir(args))
    if state is not None:
        if args.function not in state["functions"]:
            print(_unknown_function(args.function, state["functions"]), file=sys.stderr)
            return 2
        payload, failed = CloudHandle(state).invoke(args.function, event)
    else:
        payload, failed, known = _invoke_one_shot(args.function, event)
        if known is not None:
            print(_unknown_function(args.function, known), file=sys.stderr)
            return 2
    print(json.dumps(payload, indent=2, default=str))
    if failed:
        print(f"{args.function} failed: {payload.get('errorType')}: {payload.get('errorMessage')}", file=sys.stderr)
        return 1
    return 0


def _unknown_function(name: str, known: Any) -> str:
    return f"{name}: no such function in template.yaml (known: {', '.join(sorted(known))})"


def _invoke_one_shot(function: str, event: Any) -> tuple[Any, bool, list[str] | None]:
    """No cloud runs: start one for this invocation only (CodeDeploy and waits instant)."""
    from slipway_dev.local.cloud import LocalCloud

    with LocalCloud(codedeploy_delay=0.0, time_scale=0.0, log_level="WARNING") as cloud:
        if function not in cloud.specs:
            return None, False, list(cloud.specs)
        result = cloud.invoke(function, event)
    if result.error is not None:
        return result.error, True, None
    return result.payload, False, None


def run_decision(args: argparse.Namespace) -> int:
    from slipway_dev.local import interaction
    from slipway_dev.local.demo import approval_record, choose_pipeline, default_approver
    from slipway_dev.local.handle import CloudHandle, running_state

    state = running_state(_state_dir(args))
    if state is None:
        print(NO_CLOUD, file=sys.stderr)
        return 2
    handle = CloudHandle(state)
    # the config the running cloud was seeded from (older local.json files lack config_dir)
    config_dir = Path(state["config_dir"]) if state.get("config_dir") else _config_dir()
    record = approval_record(handle, args.approval_id)
    user = args.user
    if user is None:
        if record is not None and record.approvers_users:
            user = record.approvers_users[0]
        else:
            pipeline = choose_pipeline(config_dir, args.pipeline)
            user = default_approver(pipeline, record.environment if record else None)
    messages = handle.slack_messages()
    try:
        button = interaction.find_button(messages, args.approval_id, args.decision)
    except interaction.ButtonNotFound as exc:
        known = interaction.approval_ids(messages)
        print(f"{exc} (approval ids in posted messages: {', '.join(known) or 'none'})", file=sys.stderr)
        return 2
    payload = interaction.block_actions_payload(button, user, handle.response_url(args.approval_id))
    if args.write_event is not None:
        event = interaction.signed_event(payload, state["signing_secret"], state["interactivity_url"])
        args.write_event.write_text(json.dumps(event, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.write_event}: {args.decision} {args.approval_id} as {user}, signed now (valid 5 minutes)")
        return 0
    status, body = interaction.post_interaction(state["interactivity_url"], payload, state["signing_secret"])
    refused = interaction.refusal(handle.slack_messages()[len(messages) :], args.approval_id)
    if refused is not None:
        print(f"{args.decision} {args.approval_id} as {user}: refused: {refused}", file=sys.stderr)
        return 1
    print(f"{args.decision} {args.approval_id} as {user}: HTTP {status} {body}")
    return 0 if 200 <= status < 300 else 1


def run_demo(args: argparse.Namespace) -> int:
    from rich.table import Table

    from slipway_dev.local.demo import DemoOptions, choose_pipeline, production_succeeded
    from slipway_dev.local.demo import run_demo as demo
    from slipway_dev.local.handle import CloudHandle, running_state

    console = _console()
    try:
        config_dir = _config_arg(args)
    except ConfigDirError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    pipeline = choose_pipeline(config_dir, args.pipeline)  # before starting anything: a wrong name fails at once
    state_dir = _state_dir(args)
    handle = None
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        state = running_state(state_dir)
        if state is not None and state["aws_endpoint"].rstrip("/") == endpoint.rstrip("/"):
            handle = CloudHandle(state)
            console.print(f"[dim]using the local cloud already running at {endpoint}[/dim]")
        else:
            console.print(f"[dim]AWS_ENDPOINT_URL={endpoint} is not a running slipway local cloud: starting one[/dim]")
    options = DemoOptions(
        reject=args.reject,
        fail_staging=args.fail_staging,
        config_dir=config_dir,
        state_dir=state_dir,
        timeout=args.timeout,
        pipeline=pipeline.name,
    )
    summary = demo(options, handle, console.print)
    table = Table(title=f"release {summary['release_id']}")
    table.add_column("environment")
    table.add_column("deployment")
    table.add_column("status")
    for name, env in summary["environments"].items():
        table.add_row(name, str(env["deployment_id"] or "-"), env["status"])
    console.print(table)
    intake = summary.get("lambda_invocations_by_function", {}).get("EcrPushFunction", 0)
    console.print(
        f"status [bold]{summary['status']}[/bold] · {summary['state_transitions']} state transitions · "
        f"{summary['lambda_invocations']} Lambda invocations ({intake} intake + "
        f"{summary['lambda_invocations'] - intake} release) · {summary['wall_seconds']}s "
        f"(summary: {state_dir / 'demo-summary.json'})"
    )
    last = pipeline.environment_names()[-1]
    if production_succeeded(summary):
        console.print(f"[bold green]{last} deployed[/bold green]")
        return 0
    console.print(f"[yellow]{last} was not deployed[/yellow]")
    return 1
