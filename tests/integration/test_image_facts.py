"""All tags and the commit of a release's image, learned by the first environment's PrepareEnvironment.

moto ECR for DescribeImages / BatchGetImage (moto has no GetDownloadUrlForLayer: that lookup fails and is ignored);
a botocore Stubber on an injected ECR client plus a loopback HTTP server serving the config blob for the label."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.stub import Stubber
from tests.support.fakes import FakeReleaseDeps
from tests.support.release_flow import Env, make_release

from slipway.adapters.ecr import MANIFEST_MEDIA_TYPES, EcrImages
from slipway.domain.approval.messages import release_blocks
from slipway.domain.release.prepare import prepare_environment
from slipway.models.payloads import PrepareEnvironmentInput
from slipway.models.records import ReleaseRecord
from slipway.models.release import Plan, Release, release_id_for

pytestmark = pytest.mark.integration

REPOSITORY = "app-images"
REGISTRY = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"
SHA = "4f2a9c0e1b7d3a5f6e8c9b0a1d2e3f4a5b6c7d8e"


def config_blob(labels: dict[str, str]) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": labels}}).encode()


def manifest_for(blob: bytes, media_type: str = "application/vnd.docker.distribution.manifest.v2+json") -> str:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(blob),
                "digest": "sha256:" + hashlib.sha256(blob).hexdigest(),
            },
            "layers": [],
        }
    )


def release_of(digest: str, tag: str = "latest", commit: str | None = None) -> Release:
    return Release(
        release_id=release_id_for("web-app", digest),
        pipeline="web-app",
        registry=REGISTRY,
        repository=REPOSITORY,
        digest=digest,
        tags=[tag],
        commit=commit,
        pushed_at=make_release(1).pushed_at,
    )


def started(env: Env, release: Release) -> Release:
    env.deps().audit.release_started(release, ["staging", "production"])
    return release


def record(env: Env, release: Release) -> ReleaseRecord:
    found = env.deps().audit.release(release.release_id)
    assert found is not None
    return found


def deps_with_images(env: Env, ecr: Any) -> FakeReleaseDeps:
    deps = env.deps()
    deps.images = EcrImages(ecr)
    return deps


def prepare(deps: FakeReleaseDeps, release: Release, environment: str) -> Plan:
    return prepare_environment(deps, PrepareEnvironmentInput(release=release, environment=environment))


def ecr_calls(client: Any) -> list[str]:
    calls: list[str] = []
    client.meta.events.register("before-call.ecr", lambda model, **_: calls.append(model.name))
    return calls


@pytest.fixture
def blob_server() -> Iterator[dict[str, Any]]:
    """Serves ``served['blob']`` at any path on 127.0.0.1 (the pre-signed S3 URL of the config blob in AWS)."""
    served: dict[str, Any] = {"blob": b"", "requests": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served["requests"].append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(served["blob"])))
            self.end_headers()
            self.wfile.write(served["blob"])

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served["url"] = f"http://127.0.0.1:{server.server_address[1]}/config-blob?X-Amz-Signature=x"
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


def stub_label_lookup(stub: Stubber, digest: str, blob: bytes, url: str, tags: list[str]) -> None:
    ids = {"repositoryName": REPOSITORY, "registryId": "123456789012"}
    stub.add_response(
        "describe_images",
        {"imageDetails": [{"imageDigest": digest, "imageTags": tags, "repositoryName": REPOSITORY}]},
        {**ids, "imageIds": [{"imageDigest": digest}]},
    )
    stub.add_response(
        "batch_get_image",
        {"images": [{"imageId": {"imageDigest": digest}, "imageManifest": manifest_for(blob)}], "failures": []},
        {**ids, "imageIds": [{"imageDigest": digest}], "acceptedMediaTypes": MANIFEST_MEDIA_TYPES},
    )
    stub.add_response(
        "get_download_url_for_layer",
        {"downloadUrl": url, "layerDigest": "sha256:" + hashlib.sha256(blob).hexdigest()},
        {**ids, "layerDigest": "sha256:" + hashlib.sha256(blob).hexdigest()},
    )


# ------------------------------------------------------------------------------------------------ moto
def test_two_tags_of_the_digest_are_recorded_and_the_missing_label_api_is_ignored(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    ecr = env.client("ecr")
    ecr.create_repository(repositoryName=REPOSITORY)
    manifest = manifest_for(config_blob({"org.opencontainers.image.revision": SHA}))
    ecr.put_image(repositoryName=REPOSITORY, imageManifest=manifest, imageTag="v1.4.0")
    digest = ecr.put_image(repositoryName=REPOSITORY, imageManifest=manifest, imageTag="latest")["image"]["imageId"][
        "imageDigest"
    ]
    release = started(env, release_of(digest, "latest"))
    deps = deps_with_images(env, ecr)

    plan = prepare(deps, release, "staging")

    assert plan.digest == digest  # the release was prepared
    facts = record(env, release)
    assert facts.tags == ["latest", "v1.4.0"]
    assert facts.image_facts_at
    assert facts.commit is None  # moto has no GetDownloadUrlForLayer: logged, not raised
    assert "could not read the image's labels" in caplog.text
    assert release.tags == ["latest"]  # the execution input is untouched


def test_a_sha_tag_found_in_ecr_gives_the_commit_without_reading_labels(env: Env) -> None:
    ecr = env.client("ecr")
    ecr.create_repository(repositoryName=REPOSITORY)
    manifest = manifest_for(config_blob({}))
    ecr.put_image(repositoryName=REPOSITORY, imageManifest=manifest, imageTag=SHA[:12])
    digest = ecr.put_image(repositoryName=REPOSITORY, imageManifest=manifest, imageTag="latest")["image"]["imageId"][
        "imageDigest"
    ]
    release = started(env, release_of(digest, "latest"))
    calls = ecr_calls(ecr)
    deps = deps_with_images(env, ecr)

    prepare(deps, release, "staging")

    facts = record(env, release)
    assert facts.commit == SHA[:12]
    assert facts.commit_source == "tag"
    assert calls == ["DescribeImages"]


# ------------------------------------------------------------------------------------------------ stubbed label
def test_the_oci_revision_label_gives_the_commit_and_the_plan_uses_it(env: Env, blob_server: dict[str, Any]) -> None:
    blob = config_blob({"org.opencontainers.image.revision": SHA, "maintainer": "team"})
    blob_server["blob"] = blob
    digest = "sha256:" + hashlib.sha256(b"image-label").hexdigest()
    release = started(env, release_of(digest, "latest"))
    ecr = env.client("ecr")
    deps = deps_with_images(env, ecr)
    calls = ecr_calls(ecr)

    with Stubber(ecr) as stub:
        stub_label_lookup(stub, digest, blob, blob_server["url"], ["latest", "release-7"])
        plan = prepare(deps, release, "staging")
        stub.assert_no_pending_responses()

    facts = record(env, release)
    assert facts.commit == SHA
    assert facts.commit_source == "oci-label"
    assert facts.tags == ["latest", "release-7"]
    assert len(blob_server["requests"]) == 1
    # The plan path rendered with the commit: the registered revision carries it.
    tags = env.client("ecs").list_tags_for_resource(resourceArn=plan.task_definition_arn)["tags"]
    assert {"key": "slipway:commit", "value": SHA} in tags

    # Once per release: a retry and the next environment make no ECR call and read what was recorded.
    calls.clear()
    prepare(deps, release, "staging")
    assert calls == []


def test_the_label_schema_vcs_ref_is_accepted(env: Env, blob_server: dict[str, Any]) -> None:
    blob = config_blob({"org.label-schema.vcs-ref": "abc1234"})
    blob_server["blob"] = blob
    digest = "sha256:" + hashlib.sha256(b"image-label-schema").hexdigest()
    release = started(env, release_of(digest, "stable"))
    ecr = env.client("ecr")
    deps = deps_with_images(env, ecr)
    with Stubber(ecr) as stub:
        stub_label_lookup(stub, digest, blob, blob_server["url"], ["stable"])
        prepare(deps, release, "staging")
    assert record(env, release).commit == "abc1234"


@pytest.mark.parametrize(
    "served",
    [b"not json at all", None],
    ids=["config-not-json", "config-digest-mismatch"],
)
def test_a_bad_config_blob_is_logged_and_ignored(
    env: Env, blob_server: dict[str, Any], caplog: pytest.LogCaptureFixture, served: bytes | None
) -> None:
    blob = b"not json at all" if served else config_blob({"org.opencontainers.image.revision": SHA})
    blob_server["blob"] = blob if served else config_blob({"org.opencontainers.image.revision": "tampered"})
    digest = "sha256:" + hashlib.sha256(b"image-bad-blob").hexdigest()
    release = started(env, release_of(digest, "latest"))
    ecr = env.client("ecr")
    deps = deps_with_images(env, ecr)
    with Stubber(ecr) as stub:
        stub_label_lookup(stub, digest, blob, blob_server["url"], ["latest"])
        plan = prepare(deps, release, "staging")
    assert plan.digest == digest
    assert record(env, release).commit is None
    assert "could not read the image's labels" in caplog.text


def test_a_failing_lookup_never_fails_the_release(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    digest = "sha256:" + hashlib.sha256(b"image-denied").hexdigest()
    release = started(env, release_of(digest, "latest"))
    ecr = env.client("ecr")
    deps = deps_with_images(env, ecr)
    with Stubber(ecr) as stub:
        stub.add_client_error("describe_images", "AccessDeniedException", "not authorized to ecr:DescribeImages")
        stub.add_client_error("batch_get_image", "AccessDeniedException", "not authorized to ecr:BatchGetImage")
        plan = prepare(deps, release, "staging")
        stub.assert_no_pending_responses()

    assert plan.digest == digest
    facts = record(env, release)
    assert facts.tags == [] and facts.commit is None
    assert facts.image_facts_at  # tried once; retries do not try again
    out = caplog.text
    assert "could not list the image's tags" in out
    assert any("AccessDeniedException" in str(getattr(r, "error", "")) for r in caplog.records)


def test_no_lookup_when_a_codepipeline_release_already_knows_tags_and_commit(env: Env) -> None:
    ecr = env.client("ecr")
    calls = ecr_calls(ecr)
    deps = deps_with_images(env, ecr)
    known = started(env, make_release(3).model_copy(update={"source": "codepipeline"}))  # tags resolved, SHA tag
    prepare(deps, known, "staging")
    assert calls == []


# ------------------------------------------------------------------------------------------------ shown
def test_the_approval_message_shows_the_recorded_tags_and_commit(env: Env, blob_server: dict[str, Any]) -> None:
    from slipway.domain.image_facts import recorded_release

    blob = config_blob({"org.opencontainers.image.revision": SHA})
    blob_server["blob"] = blob
    digest = "sha256:" + hashlib.sha256(b"image-shown").hexdigest()
    release = started(env, release_of(digest, "latest"))
    ecr = env.client("ecr")
    deps = deps_with_images(env, ecr)
    with Stubber(ecr) as stub:
        stub_label_lookup(stub, digest, blob, blob_server["url"], ["latest", "v2.0.0"])
        plan = prepare(deps, release, "staging")

    shown = recorded_release(release, record(env, release))
    blocks = release_blocks(
        release=shown,
        plan=plan,
        environment="staging",
        policy=env.config.pipelines["web-app"].environment("production").approval,
        expiry=datetime.now(UTC),
        earlier=[],
        approval_id="a-1",
        deploys_with="CodeDeploy",
    )
    text = json.dumps(blocks)
    assert "`v2.0.0`" in text and "`latest`" in text
    assert SHA in text
