"""The hub's HTTP API, called with this agent's own token (PROTOCOL.md §4).

Only the sidecar process holds the token: an agent session reaches these routes
through the local socket (sidecar.localsocket), never with the token itself.
Requests run in a worker thread so the event loop never waits on the network.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from sidecar.config import SidecarConfig

TIMEOUT_S = 30
MAX_ANSWER_BYTES = 8 * 1024 * 1024  # the hub's AGENTCOM_MAX_RESPONSE_BYTES


@dataclass(frozen=True)
class HubAnswer:
    status: int  # 0: the hub could not be reached
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def api_base(config: SidecarConfig) -> str:
    """hub_api_url, else the hub_url's scheme and host (ws→http, wss→https)."""
    if config.hub_api_url:
        return config.hub_api_url.rstrip("/")
    parts = urllib.parse.urlsplit(config.hub_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"


class HubApi:
    def __init__(self, config: SidecarConfig) -> None:
        self._base = api_base(config)
        self._token = config.token

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, **query: Any
    ) -> HubAnswer:
        """One request; path segments must already be quoted (quote_segment)."""
        present = {k: v for k, v in query.items() if v is not None}
        url = self._base + path + (f"?{urllib.parse.urlencode(present)}" if present else "")
        return await asyncio.to_thread(self._request, method, url, body)

    def _request(self, method: str, url: str, body: dict[str, Any] | None) -> HubAnswer:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return HubAnswer(response.status, _json(response.read(MAX_ANSWER_BYTES + 1)))
        except urllib.error.HTTPError as exc:
            return HubAnswer(exc.code, _json(exc.read(MAX_ANSWER_BYTES + 1)))
        except (OSError, ValueError) as exc:
            return HubAnswer(0, {"error": "hub_unreachable", "detail": str(exc)[:500]})


def quote_segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _json(raw: bytes) -> Any:
    if len(raw) > MAX_ANSWER_BYTES:
        return {"error": "answer_too_large", "detail": "the hub's answer was over 8 MiB"}
    try:
        return json.loads(raw)
    except ValueError:
        return {"error": "invalid_answer", "detail": raw[:200].decode("utf-8", "replace")}
