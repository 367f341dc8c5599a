"""The HTTP gateway on the cloud's host (loopback unless `slipway local up --host`): the template's HttpApi routes
served as API Gateway would (payload format 2.0 in, the function's proxy response out), and the local endpoints
``GET /codepipeline/results``, ``GET /invocations``, ``GET /health`` and ``POST /control/codedeploy``."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from slipway_dev.local.events import http_api_event
from slipway_dev.local.handlers import InvocationResult

if TYPE_CHECKING:
    from slipway_dev.local.cloud import LocalCloud


def start_gateway(cloud: LocalCloud) -> ThreadingHTTPServer:
    """A threading HTTP server on the cloud's host (any port) serving ``cloud``; stop it with shutdown()."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            serve(cloud, self, "GET")

        def do_POST(self) -> None:
            serve(cloud, self, "POST")

    server = ThreadingHTTPServer((cloud.host, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="local-gateway", daemon=True).start()
    return server


def serve(cloud: LocalCloud, request: BaseHTTPRequestHandler, method: str) -> None:
    url = urlsplit(request.path)
    length = int(request.headers.get("Content-Length") or 0)
    body = request.rfile.read(length) if length else b""
    if method == "GET" and url.path == "/codepipeline/results":
        reply(request, 200, cloud.codepipeline.snapshot())
        return
    if method == "GET" and url.path == "/invocations":
        reply(request, 200, {"counts": cloud.lambda_invocations, "async_errors": len(cloud.async_errors)})
        return
    if method == "GET" and url.path == "/health":
        reply(request, 200, {"ok": True})
        return
    if method == "POST" and url.path == "/control/codedeploy":
        try:
            wanted = json.loads(body or b"{}")
            cloud.fail_deployments = set(wanted.get("fail", []))
        except (ValueError, AttributeError):
            reply(request, 400, {"message": 'expected {"fail": ["group or environment", ...]}'})
            return
        reply(request, 200, {"fail": sorted(cloud.fail_deployments)})
        return
    for route in cloud.routes:
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
            reply_lambda_proxy(request, cloud.run(cloud.specs[route.function], event))
            return
    reply(request, 404, {"message": "Not Found"})


def reply(request: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
    data = json.dumps(payload, default=str).encode("utf-8")
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)


def reply_lambda_proxy(request: BaseHTTPRequestHandler, result: InvocationResult) -> None:
    """Turn a handler's result into the HTTP response API Gateway (payload format 2.0) would send."""
    if result.error is not None:
        reply(request, 500, {"message": "Internal Server Error"})
        return
    payload = result.payload
    if not (isinstance(payload, dict) and "statusCode" in payload):
        reply(request, 200, payload)
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
