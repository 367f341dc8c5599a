"""Expected failures of the `slipway` command, each as one line and an exit code: ``explain`` is the one place an
exception becomes what the user reads (``slipway_dev.cli.main`` calls it; ``--debug`` shows the traceback
instead). Exit 2: the input or the set-up needs fixing (usage, config, region, credentials); exit 1: AWS, the
network or a check said no."""

from __future__ import annotations

USAGE = 2
FAILED = 1


class CliError(Exception):
    """A problem the user can fix (a missing option, an unknown name); printed without a traceback, exit 2."""


def explain(exc: BaseException) -> tuple[str, int]:
    """(one line for stderr, exit code) for an exception a command let through."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    from slipway.errors import ConfigError, SlipwayError

    if isinstance(exc, CliError):
        return str(exc), USAGE
    if isinstance(exc, ConfigError):
        lines = [line for line in str(exc).splitlines() if line.strip()]
        more = f" (and {len(lines) - 1} more problem(s): run `slipway validate`)" if len(lines) > 1 else ""
        return (lines[0] if lines else "invalid configuration") + more, USAGE
    if isinstance(exc, SlipwayError):
        return str(exc), FAILED
    if isinstance(exc, KeyError):  # config lookups: unknown pipeline or environment
        return str(exc.args[0] if exc.args else exc), USAGE
    if isinstance(exc, NoRegionError):
        return "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or region in ~/.aws/config)", USAGE
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            "no AWS credentials: set AWS_PROFILE (after `aws sso login` or `aws configure`) or AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY; for the local cloud, run `slipway local up` first",
            USAGE,
        )
    if isinstance(exc, EndpointConnectionError):
        return (
            f"cannot reach {exc.kwargs.get('endpoint_url')}: no network, or a wrong region or AWS_ENDPOINT_URL",
            FAILED,
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message', '')}".rstrip(), FAILED
    if isinstance(exc, BotoCoreError):
        return str(exc), FAILED
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return f"{where}{exc.strerror or exc}", FAILED
    return f"unexpected {type(exc).__name__}: {exc} (run `slipway --debug …` for the traceback)", FAILED
