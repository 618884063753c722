"""A real HTTP receiver on a loopback port that checks AgentCom's webhook signature."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_AGE_S = 300


class Receiver:
    """Answers `failures` times with 500, then 200; keeps what it accepted."""

    def __init__(self, secret: str = "", failures: int = 0) -> None:
        self.secret = secret
        self.failures = failures
        self.seen = 0
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver.handle({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        with self.arrived:
            self.seen += 1
            try:
                status = self._check(headers, body)
            finally:
                self.arrived.notify_all()
            return status

    def _check(self, headers: dict[str, str], body: bytes) -> int:
        stamp = headers.get("x-agentcom-timestamp", "")
        expected = hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        given = headers.get("x-agentcom-signature", "")
        if not hmac.compare_digest(given, "sha256=" + expected.hexdigest()):
            self.refused.append("bad signature")
            return 401
        if abs(time.time() - int(stamp)) > MAX_AGE_S:
            self.refused.append("stale timestamp")
            return 401
        if self.seen <= self.failures:
            return 500
        self.accepted.append({"headers": headers, "body": json.loads(body)})
        return 200

    def wait_for(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.accepted) >= count, timeout)
        return self.accepted

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
