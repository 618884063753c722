"""runhub's daphne server: the per-socket timeout scan runs a slice at a time."""

from agentcom_site import daphne_server
from agentcom_site.daphne_server import TIMEOUT_CHECK_SLICE, HubServer


class Socket:
    def __init__(self, checked: list) -> None:
        self.checked = checked

    def check_timeouts(self) -> None:
        self.checked.append(self)


def test_timeouts_are_checked_in_slices_then_rescheduled(monkeypatch):
    scheduled = []
    monkeypatch.setattr(
        daphne_server.reactor,
        "callLater",
        lambda delay, fn, *args: scheduled.append((delay, fn, args)),
    )
    checked: list = []
    server = HubServer(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])
    sockets = [Socket(checked) for _ in range(2 * TIMEOUT_CHECK_SLICE + 1)]
    server.connections = {socket: {} for socket in sockets}

    server.timeout_checker()
    assert len(checked) == TIMEOUT_CHECK_SLICE and scheduled[-1][0] == 0
    del server.connections[sockets[-1]]  # closed while the scan is under way
    while scheduled[-1][0] == 0:
        _, fn, args = scheduled.pop()
        fn(*args)
    assert checked == sockets[:-1]
    assert scheduled[-1][:2] == (daphne_server.TIMEOUT_CHECK_INTERVAL_S, server.timeout_checker)
