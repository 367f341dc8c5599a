"""The CodePipeline calls moto lacks (PutJobSuccessResult, PutJobFailureResult, PutApprovalResult, GetJobDetails):
answered, and recorded in ``codepipeline_results`` (and ``codepipeline-results.json`` in the state folder).
GetJobDetails answers for the jobs whose events a function was invoked with, as on AWS."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any
from unittest import mock

from slipway_dev.local.base import ACCOUNT, RESULTS_FILE, utcnow_iso


class CodePipelineRecorder:
    """What the functions told CodePipeline, and the jobs it knows of."""

    def __init__(self, state_dir: Path | None = None, account: str = ACCOUNT) -> None:
        self.state_dir = state_dir
        self.account = account
        self.results: list[dict[str, Any]] = []
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def record(self, action: str, params: dict[str, Any]) -> None:
        entry = {"action": action, "at": utcnow_iso(), **params}
        with self._lock:
            self.results.append(entry)
            snapshot = list(self.results)
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            (self.state_dir / RESULTS_FILE).write_text(json.dumps(snapshot, indent=2, default=str))

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.results)

    def job(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._jobs.get(job_id)

    def register_job(self, job: dict[str, Any]) -> None:
        with self._lock:
            self._jobs[str(job["id"])] = job

    def register_event(self, event: Any) -> None:
        """Remember the job of a CodePipeline job event (a function is about to be invoked with it)."""
        job = event.get("CodePipeline.job") if isinstance(event, dict) else None
        if isinstance(job, dict) and isinstance(job.get("id"), str) and job["id"]:
            # A job without an id is the handler's to refuse (MalformedEvent), not the cloud's to crash on.
            self.register_job(job)

    def patches(self) -> list[Any]:
        """Response methods for the job/approval actions moto does not implement."""
        from moto.codepipeline.responses import CodePipelineResponse
        from moto.core.exceptions import JsonRESTError

        recorder = self

        def params(response: Any) -> dict[str, Any]:
            return dict(json.loads(response.body or "{}"))

        def put_job_success_result(response: Any) -> str:
            recorder.record("PutJobSuccessResult", params(response))
            return "{}"

        def put_job_failure_result(response: Any) -> str:
            recorder.record("PutJobFailureResult", params(response))
            return "{}"

        def put_approval_result(response: Any) -> str:
            recorder.record("PutApprovalResult", params(response))
            return json.dumps({"approvedAt": time.time()})

        def get_job_details(response: Any) -> str:
            job_id = str(params(response).get("jobId"))
            job = recorder.job(job_id)
            if job is None:
                raise JsonRESTError("JobNotFoundException", f"Job {job_id} not found (the local cloud saw no such job)")
            return json.dumps(
                {"jobDetails": {"id": job_id, "data": job.get("data", {}), "accountId": recorder.account}}
            )

        methods = {
            "put_job_success_result": put_job_success_result,
            "put_job_failure_result": put_job_failure_result,
            "put_approval_result": put_approval_result,
            "get_job_details": get_job_details,
        }
        return [mock.patch.object(CodePipelineResponse, name, method, create=True) for name, method in methods.items()]
