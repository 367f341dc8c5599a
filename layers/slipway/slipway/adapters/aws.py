"""Lazily created boto3 clients, typed with mypy-boto3, and the one translation of throttling errors.

``AwsClients()`` creates nothing until a client is first used; tests and the local cloud pass a session (or
set ``AWS_ENDPOINT_URL``, which boto3 honours) to point every client at moto.

Every client it creates raises ``TransientError`` (retried by the state machine, or by Lambda for an event) for a
call that still fails with throttling or a 5xx once the SDK's own retries are spent, whatever the call: a
throttled DynamoDB write must be retried as surely as a throttled CreateDeployment (``raise_transient``, a botocore
``after-call`` hook). Other errors keep their botocore class (ConditionalCheckFailed, ExecutionAlreadyExists, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import ClientError

from slipway.errors import TransientError

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_codedeploy import CodeDeployClient
    from mypy_boto3_codepipeline import CodePipelineClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_sts import STSClient

# Standard retry mode backs off on throttling; the state machine retries what is left (TransientError).
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=20)

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "RequestTimeout",
        "RequestTimeoutException",
        "SlowDown",
    }
)


@contextmanager
def transient_errors(action: str) -> Iterator[None]:
    """Re-raise throttling as ``TransientError`` (retried by the state machine), naming what was attempted."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in TRANSIENT_CODES:
            raise TransientError(f"{action}: {code} (will retry)") from exc
        raise


def raise_transient(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    """botocore ``after-call`` hook: a throttling or 5xx answer becomes ``TransientError`` naming the call."""
    status = getattr(http_response, "status_code", 200)
    if status < 300:
        return
    code = str((parsed or {}).get("Error", {}).get("Code", ""))
    if code in TRANSIENT_CODES or status >= 500:
        raise TransientError(f"{model.service_model.service_name}.{model.name}: {code or status} (will retry)")


class AwsClients:
    def __init__(self, session: boto3.Session | None = None) -> None:
        self._session = session

    def _boto3_session(self) -> boto3.Session:
        if self._session is None:
            import boto3

            self._session = boto3.Session()
        return self._session

    def _client(self, service: str) -> Any:
        client = self._boto3_session().client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]
        client.meta.events.register("after-call", raise_transient)
        return client

    def in_region(self, region: str) -> AwsClients:
        """Clients with these credentials in another region (an environment's replicated image repository)."""
        import boto3

        session = self._boto3_session()
        if session.region_name == region:
            return self
        credentials = session.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
        return AwsClients(
            boto3.Session(
                aws_access_key_id=frozen.access_key if frozen else None,
                aws_secret_access_key=frozen.secret_key if frozen else None,
                aws_session_token=frozen.token if frozen else None,
                region_name=region,
            )
        )

    @cached_property
    def sts(self) -> STSClient:
        return self._client("sts")  # type: ignore[no-any-return]

    @cached_property
    def sfn(self) -> SFNClient:
        return self._client("stepfunctions")  # type: ignore[no-any-return]

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        return self._client("dynamodb")  # type: ignore[no-any-return]

    @cached_property
    def ecs(self) -> ECSClient:
        return self._client("ecs")  # type: ignore[no-any-return]

    @cached_property
    def ecr(self) -> ECRClient:
        return self._client("ecr")  # type: ignore[no-any-return]

    @cached_property
    def codedeploy(self) -> CodeDeployClient:
        return self._client("codedeploy")  # type: ignore[no-any-return]

    @cached_property
    def codepipeline(self) -> CodePipelineClient:
        return self._client("codepipeline")  # type: ignore[no-any-return]

    @cached_property
    def s3(self) -> S3Client:
        return self._client("s3")  # type: ignore[no-any-return]

    @cached_property
    def secretsmanager(self) -> SecretsManagerClient:
        return self._client("secretsmanager")  # type: ignore[no-any-return]
