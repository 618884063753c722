"""Daphne, as `runhub` serves it. Import this (and its `reactor`) before anything Twisted:
daphne.server installs the asyncio reactor."""

from daphne.server import Server
from twisted.internet import reactor

TIMEOUT_CHECK_INTERVAL_S = 2
TIMEOUT_CHECK_SLICE = 500


class HubServer(Server):
    """Daphne's server with its per-socket timeout scan spread out.

    Daphne checks every connection's timeouts in one pass every two seconds; with
    10 000 agents connected that pass held the event loop long enough to show in
    dispatch latency. Here the same checks run a slice at a time, yielding between.
    """

    def timeout_checker(self) -> None:
        self._check_timeouts(list(self.connections), 0)

    def _check_timeouts(self, sockets: list, start: int) -> None:
        end = start + TIMEOUT_CHECK_SLICE
        for protocol in sockets[start:end]:
            if protocol in self.connections:  # not closed since the scan began
                protocol.check_timeouts()
        if end < len(sockets):
            reactor.callLater(0, self._check_timeouts, sockets, end)
        else:
            reactor.callLater(TIMEOUT_CHECK_INTERVAL_S, self.timeout_checker)
