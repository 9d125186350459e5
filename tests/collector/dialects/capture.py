"""Record golden OTLP payloads from the real tracing packages (run by hand, not by the tests).

Each scenario under ``scenarios/`` is a small program written against one real package (the
package's own public API, nothing of FluxLoop's). This script starts a local OTLP/HTTP capture
server on 127.0.0.1, runs the scenario with the Python of a throwaway virtualenv in which that
package is installed, points the package's exporter at the server, and writes every
``/v1/traces`` body it receives (protobuf, gunzipped) to ``payloads/<dialect>.pb``, with the
package versions in ``payloads/manifest.json``.

    python tests/collector/dialects/capture.py openinference /tmp/venv-oi/bin/python

Throwaway virtualenvs used for the committed payloads (``pip install`` into a fresh venv):

* openinference: ``openinference-instrumentation-langchain langchain-core opentelemetry-sdk
  opentelemetry-exporter-otlp-proto-http``
* langfuse: ``langfuse``
* mlflow: ``mlflow-skinny opentelemetry-exporter-otlp-proto-http`` (``mlflow-tracing`` alone
  fails to start a span here: it imports ``sqlparse`` and ``yaml`` without depending on them)
* logfire: ``logfire pydantic-ai-slim``
* traceloop: ``traceloop-sdk openai`` (``--use-deprecated=legacy-resolver``: pip's resolver
  backtracked for over 30 minutes on traceloop-sdk's ~40 instrumentation packages here); its
  OpenAI instrumentation calls the capture server's canned ``/v1/chat/completions``
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).parent
PACKAGES = {
    "openinference": ["openinference-instrumentation-langchain", "langchain-core"],
    "langfuse": ["langfuse"],
    "mlflow": ["mlflow-tracing", "mlflow-skinny"],
    "logfire": ["logfire", "pydantic-ai-slim"],
    "traceloop": ["traceloop-sdk", "opentelemetry-instrumentation-openai", "openai"],
}


CHAT_COMPLETION = {
    "id": "chatcmpl-capture",
    "object": "chat.completion",
    "created": 1767323045,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Order 42 is packed."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30},
}


class _Capture(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.endswith("/chat/completions"):  # a canned OpenAI answer (no network)
            answer = json.dumps(CHAT_COMPLETION).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        if self.path.endswith("/v1/traces"):
            if "json" in (self.headers.get("Content-Type") or ""):
                raise SystemExit("expected protobuf")
            self.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _versions(python: str, packages: list[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    return json.loads(subprocess.check_output([python, "-c", code, *packages], text=True))


def main() -> None:
    dialect, python = sys.argv[1], sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    env = {
        **os.environ,
        "CAPTURE_URL": url,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{url}/v1/traces",
        "OTEL_EXPORTER_OTLP_ENDPOINT": url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": f"{dialect}-capture",
    }
    subprocess.run(
        [python, str(HERE / "scenarios" / f"scenario_{dialect}.py")], env=env, check=True
    )
    server.shutdown()
    if not _Capture.bodies:
        raise SystemExit(f"{dialect}: nothing was exported")
    # one file: the bodies as length-prefixed protobuf messages
    out = HERE / "payloads" / f"{dialect}.pb"
    out.write_bytes(b"".join(len(b).to_bytes(4, "big") + b for b in _Capture.bodies))
    manifest_path = HERE / "payloads" / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest[dialect] = {
        "packages": _versions(python, PACKAGES[dialect]),
        "python": subprocess.check_output(
            [python, "-c", "import sys; print(sys.version.split()[0])"], text=True
        ).strip(),
        "requests": len(_Capture.bodies),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"{dialect}: {len(_Capture.bodies)} request(s) -> {out}")


if __name__ == "__main__":
    main()
