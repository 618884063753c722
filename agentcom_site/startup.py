"""What a hub process claims before it touches the database: its port, then its data.

A second `runhub` on the same machine used to mark every agent offline in the shared
database and only then fail to bind, leaving the first hub dispatching nothing. Now a
hub binds its listening socket first, then (embedded mode, SQLite) takes an exclusive
lock on the data directory; only then does it migrate and reset presence. A hub that
cannot have either exits non-zero, naming what holds it. Scaled mode (Postgres) takes
no lock: many hub processes share one database by design.
"""

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LOCK_NAME = "hub.lock"


class StartRefused(Exception):
    """The hub cannot start; the message says why and what to do."""


@dataclass
class Listener:
    sock: socket.socket
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        """The daphne endpoint that serves on this already-bound socket."""
        return f"fd:fileno={self.sock.fileno()}"


def bind_listener(host: str, port: int) -> Listener:
    """Bind and listen on host:port (IPv4), or raise StartRefused naming the address."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        sock.close()
        raise StartRefused(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return Listener(sock, host, sock.getsockname()[1])


def lock_data_dir(data_dir: Path, *, url: str) -> IO[str]:
    """Hold an exclusive lock on data_dir for the life of this process.

    The lock file says which hub holds it, so the one refused can name it. The lock
    goes with the process, however it ends (the kernel releases flock on exit).
    """
    path = data_dir / LOCK_NAME
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = _describe(handle.read())
        handle.close()
        raise StartRefused(
            f"another hub ({holder}) is using the data directory {data_dir}; stop it first, "
            "or give this one its own AGENTCOM_DATA_DIR"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "url": url}))
    handle.flush()
    return handle


def _describe(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"pid {holder['pid']}, {holder['url']}"
    except (ValueError, KeyError, TypeError):
        return "unknown process"
