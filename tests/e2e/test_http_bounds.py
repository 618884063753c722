"""A real hub process refuses oversized bodies before reading them, on every route."""

import json
import select
import socket
import time

import pytest

pytestmark = pytest.mark.e2e

GIB = 1024**3
CHUNK = 256 * 1024


def rss_kib(hub) -> int:
    with open(f"/proc/{hub.proc.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def read_response(sock: socket.socket, timeout: float = 10) -> tuple[int, dict]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), json.loads(body[:length])


def request_head(hub, path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{hub.port}", *headers, "", ""]
    return "\r\n".join(lines).encode()


@pytest.mark.parametrize("path", ["/api/tasks", "/api/onboard/register", "/admin/login/"])
def test_a_declared_gibibyte_is_refused_before_a_byte_is_read(start_hub, path):
    hub = start_hub()
    with socket.create_connection(("127.0.0.1", hub.port)) as sock:
        sock.sendall(
            request_head(hub, path, f"Content-Length: {GIB}", "Content-Type: application/json")
        )
        status, body = read_response(sock)  # answered with no body sent at all
    assert status == 413 and body["error"] == "payload_too_large"
    assert hub.http("GET", "/health")[0] == 200


def test_a_chunked_stream_is_cut_off_at_the_limit(start_hub):
    hub = start_hub()
    before = rss_kib(hub)
    chunk = b"%x\r\n%s\r\n" % (CHUNK, b"x" * CHUNK)
    sent = 0
    with socket.create_connection(("127.0.0.1", hub.port)) as sock:
        sock.sendall(request_head(hub, "/api/tasks", "Transfer-Encoding: chunked"))
        sock.settimeout(1)
        while sent < GIB:
            if select.select([sock], [], [], 0)[0]:
                break  # the hub answered: stop streaming
            try:
                sock.sendall(chunk)
            except TimeoutError:
                continue  # the hub stopped reading; its answer is on the way
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += CHUNK
        status, body = read_response(sock)
    assert status == 413 and body["error"] == "payload_too_large"
    assert sent < 64 * 1024 * 1024  # cut off near 1 MiB, plus what the socket buffers held
    assert rss_kib(hub) - before < 50 * 1024
    assert hub.http("GET", "/health")[0] == 200


def test_a_body_under_the_limit_is_still_served(start_hub):
    hub = start_hub()
    started = time.monotonic()
    status, body = hub.http("POST", "/api/tasks", raw=b'{"description": "x"}')
    assert status == 401 and body["error"] == "unauthorized"
    assert time.monotonic() - started < 5
