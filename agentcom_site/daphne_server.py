"""Daphne, as `runhub` serves it. Import this (and its `reactor`) before anything Twisted:
daphne.server installs the asyncio reactor."""

import asyncio
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import CancelledError

from autobahn.websocket import ConnectionDeny
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from django.conf import settings
from twisted.internet import reactor

from agentcom_site.core.errors import payload_too_large

# Daphne's own logger: what the application check reports reads as it always did.
log = logging.getLogger("daphne.server")

TIMEOUT_CHECK_INTERVAL_S = 2
TIMEOUT_CHECK_SLICE = 500
APPLICATION_CHECK_INTERVAL_S = 1
APPLICATION_CHECK_SLICE = 500
# After a refused body the client gets this long to read the 413 before the
# connection is cut; meanwhile nothing more is read from it.
REFUSAL_LINGER_S = 2


class HubWebRequest(WebRequest):
    """Daphne's request with the body limit enforced while the body arrives.

    Twisted reads a whole body (spooling it to a temporary file) before daphne hands
    the request to the application, so a limit checked by the application comes after
    the damage. Here a declared length over the limit is refused as soon as the
    headers are in, and a chunked body as soon as its running count passes the limit:
    a JSON 413, then the connection stops being read and is closed.
    """

    refused = False
    received = 0

    def gotLength(self, length: int | None) -> None:
        super().gotLength(length)
        if length is not None and length > settings.AGENTCOM_MAX_FRAME_BYTES:
            self.refuse()

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return
        self.received += len(data)
        if self.received > settings.AGENTCOM_MAX_FRAME_BYTES:
            self.refuse()
            return
        super().handleContentChunk(data)

    def process(self):
        if self.refused:  # the rest of the body arrived in the same read
            return None
        return super().process()

    def refuse(self) -> None:
        self.refused = True
        body = json.dumps(payload_too_large(settings.AGENTCOM_MAX_FRAME_BYTES).as_dict())
        transport = self.channel.transport
        transport.write(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body.encode())
        )
        transport.pauseProducing()
        transport.loseWriteConnection()
        reactor.callLater(REFUSAL_LINGER_S, transport.abortConnection)


class HubWebSocketProtocol(WebSocketProtocol):
    """Daphne's socket, closing with 4009 `frame too large` (PROTOCOL.md §2.5) on a
    message over the limit, where autobahn would drop the TCP connection without a
    word (nothing more of the message is kept), and sending close reasons."""

    denial_status = 403

    def handle_reply(self, message: dict) -> None:
        kind = message.get("type")
        # Daphne sends the close code without the reason; the reasons are part of the
        # protocol (PROTOCOL.md §2.5).
        if kind == "websocket.close" and self.state != self.STATE_CONNECTING:
            self.sendClose(code=message.get("code") or 1000, reason=message.get("reason") or None)
            return
        # The ASGI denial response, which daphne lacks: a refused upgrade gets its own
        # status (429, 503), with the error code as the reason phrase.
        if kind == "websocket.http.response.start" and self.state == self.STATE_CONNECTING:
            self.denial_status = message["status"]
            return
        if kind == "websocket.http.response.body" and self.state == self.STATE_CONNECTING:
            try:
                reason = json.loads(message.get("body") or b"{}").get("error", "refused")
            except ValueError:
                reason = "refused"
            self.handshake_deferred.errback(ConnectionDeny(code=self.denial_status, reason=reason))
            del self.handshake_deferred
            self.server.protocol_disconnected(self)
            return
        super().handle_reply(message)

    def _max_message_size_exceeded(self, msg_size, max_msg_size, reason) -> None:
        self.failByDrop = False  # fail with a closing handshake the client can read
        self._fail_connection(4009, "frame too large")


class HubHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = HubWebRequest
        return protocol


class HubServer(Server):
    """Daphne's server with its per-connection scans spread out.

    Daphne checks every connection's timeouts in one pass every two seconds, and every
    connection's application once a second; with 10 000 agents connected each pass
    held the event loop long enough to show in dispatch latency. Here the same checks
    run a slice of connections per reactor turn, then wait the same interval.
    HTTP requests are `HubWebRequest`s, which bound the body while it arrives, and
    sockets `HubWebSocketProtocol`s, which close on an oversized message.
    """

    @property
    def http_factory(self) -> HTTPFactory:
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory: HTTPFactory) -> None:
        # `Server.run` builds daphne's factory inline; this is the one seam to swap it.
        self._http_factory = HubHTTPFactory(self)

    @property
    def ws_factory(self) -> WebSocketFactory:
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory: WebSocketFactory) -> None:
        factory.protocol = HubWebSocketProtocol
        self._ws_factory = factory

    def timeout_checker(self) -> None:
        self._scan(
            list(self.connections),
            0,
            TIMEOUT_CHECK_SLICE,
            lambda protocol: protocol.check_timeouts(),
            (TIMEOUT_CHECK_INTERVAL_S, self.timeout_checker),
        )

    def application_checker(self) -> None:
        self._scan(
            list(self.connections),
            0,
            APPLICATION_CHECK_SLICE,
            self._check_application,
            (APPLICATION_CHECK_INTERVAL_S, self.application_checker),
        )

    def _scan(
        self,
        protocols: list,
        start: int,
        size: int,
        check: Callable[[object], None],
        then: tuple[float, Callable[[], None]],
    ) -> None:
        """`check` the connections of `protocols[start:start + size]` still open, the
        next slice on the next reactor turn; after the last, start over after a pause."""
        end = start + size
        for protocol in protocols[start:end]:
            if protocol in self.connections:  # not gone since the scan began
                check(protocol)
        if end < len(protocols):
            reactor.callLater(0, self._scan, protocols, end, size, check, then)
        else:
            reactor.callLater(*then)

    def _check_application(self, protocol) -> None:
        """Daphne's application check for one connection: an application that outlived
        its connection by `application_close_timeout` is cancelled; a finished one is
        reaped, its exception logged (and, while the client is still there, shown to
        it); a connection whose client left and whose application is gone is dropped."""
        details = self.connections[protocol]
        disconnected = details.get("disconnected")
        instance = details.get("application_instance")
        if (
            disconnected
            and time.time() - disconnected > self.application_close_timeout
            and instance
            and not instance.done()
        ):
            log.warning(
                "Application instance %r for connection %r outlived its connection by "
                "more than %s s and was cancelled.",
                instance,
                protocol,
                self.application_close_timeout,
            )
            instance.cancel()
        if instance and instance.done():
            try:
                error = instance.exception()
            except (CancelledError, asyncio.CancelledError):
                error = None  # cancelled: nothing to report
            if isinstance(error, KeyboardInterrupt):
                self.stop()  # the application asks the server to exit
            elif error is not None:
                log.error("Exception inside application: %s", error, exc_info=error)
                if not disconnected:
                    protocol.handle_exception(error)
            del details["application_instance"]
            instance = None
        if not instance and disconnected:
            del self.connections[protocol]
