#!/usr/bin/env python3
"""Regenerates Tests/ExtAuthzTests/Golden: CheckRequests captured from a real Envoy, and
the OPA-Envoy input each should become, computed independently of Warden with Python's
protobuf json_format (protojson, as OPA-Envoy uses) and urllib's query parsing.

Usage: .venv/bin/python scripts/capture_envoy_requests.py"""

import json
import os
import queue
import sys
import urllib.parse
from concurrent import futures

import grpc
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from google.protobuf import json_format

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "integration"))
import harness as h  # noqa: E402

OUT = os.path.join(h.ROOT, "Tests", "ExtAuthzTests", "Golden")

REQUESTS = [
    ("get-with-query", "GET", "/tools/search?q=rego&limit=10&q=opa", {"x-agent-id": "code-review-bot"}, None),
    ("post-json-body", "POST", "/tools/deploy", {"x-agent-id": "deploy-bot", "content-type": "application/json"},
     json.dumps({"service": "billing", "replicas": 3, "canary": True})),
    ("post-form-body", "POST", "/tools/tickets/new", {"content-type": "application/x-www-form-urlencoded"},
     "title=disk+full&severity=2&tag=ops&tag=urgent"),
    ("escaped-path", "GET", "/tools/files/a%20b/c%2Fd", {"authorization": "Bearer abc.def.ghi"}, None),
    ("truncated-body", "PUT", "/tools/blob", {"content-type": "application/json"}, "x" * 10000),
]


class Capture(external_auth_pb2_grpc.AuthorizationServicer):
    def __init__(self):
        self.seen = queue.Queue()

    def Check(self, request, context):
        self.seen.put(request)
        resp = external_auth_pb2.CheckResponse()
        resp.status.code = 0
        return resp


def expected_input(req):
    attrs = json_format.MessageToDict(req.attributes)
    http = req.attributes.request.http
    raw = http.path.split("#", 1)[0]
    path, _, query = raw.partition("?")
    parsed_query = {}
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        parsed_query.setdefault(k, []).append(v)
    body = http.raw_body.decode() if http.raw_body else http.body
    content_type = http.headers.get("content-type", "")
    truncated = bool(body) and int(http.headers.get("content-length", len(body.encode()))) > len(body.encode())
    parsed_body = None
    if body and not truncated:
        if content_type.startswith("application/json"):
            parsed_body = json.loads(body)
        elif content_type.startswith("application/x-www-form-urlencoded"):
            parsed_body = {}
            for k, v in urllib.parse.parse_qsl(body, keep_blank_values=True):
                parsed_body.setdefault(k, []).append(v)
    return {
        "attributes": attrs,
        "parsed_path": [urllib.parse.unquote(p) for p in path.lstrip("/").split("/")],
        "parsed_query": parsed_query,
        "parsed_body": parsed_body,
        "truncated_body": truncated,
        "version": {"ext_authz": "v3", "encoding": "protojson"},
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    capture = Capture()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    external_auth_pb2_grpc.add_AuthorizationServicer_to_server(capture, server)
    authz_port = h.free_port()
    server.add_insecure_port(f"127.0.0.1:{authz_port}")
    server.start()
    up_port, envoy_port = h.free_port(), h.free_port()
    upstream = h.start_upstream(up_port)
    envoy = h.start_envoy("ext-authz.yaml", envoy_port, up_port, authz_port)
    try:
        for name, method, path, headers, body in REQUESTS:
            h.http(envoy_port, method, path, headers, body)
            req = capture.seen.get(timeout=5)
            with open(os.path.join(OUT, f"{name}.request.json"), "w") as fh:
                fh.write(json_format.MessageToJson(req, indent=1) + "\n")
            with open(os.path.join(OUT, f"{name}.input.json"), "w") as fh:
                json.dump(expected_input(req), fh, indent=1, sort_keys=True)
                fh.write("\n")
            print(f"captured {name}")
    finally:
        envoy.stop()
        upstream.stop()
        server.stop(0)


if __name__ == "__main__":
    main()
