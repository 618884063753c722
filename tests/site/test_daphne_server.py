"""runhub's daphne server: the per-connection scans run a slice at a time."""

import asyncio
import time

from agentcom_site import daphne_server
from agentcom_site.daphne_server import (
    APPLICATION_CHECK_INTERVAL_S,
    APPLICATION_CHECK_SLICE,
    TIMEOUT_CHECK_SLICE,
    HubServer,
)


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


class Connection:
    def __init__(self) -> None:
        self.shown: list[BaseException] = []

    def handle_exception(self, exception: BaseException) -> None:
        self.shown.append(exception)


async def test_applications_are_checked_in_slices_reaped_when_done_and_cancelled_when_hung(
    monkeypatch, caplog
):
    scheduled = []
    monkeypatch.setattr(
        daphne_server.reactor,
        "callLater",
        lambda delay, fn, *args: scheduled.append((delay, fn, args)),
    )
    server = HubServer(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])
    server.application_close_timeout = 10

    async def hang():
        await asyncio.Event().wait()

    async def fail():
        raise ValueError("broken")

    async def finish():
        return None

    moment = time.time()
    hung, late, failed, finished, live = (
        asyncio.ensure_future(work()) for work in (hang, hang, fail, finish, hang)
    )
    await asyncio.sleep(0)  # the short ones run to their end
    gone_long_ago, gone_lately, erring, ended, open_ = (Connection() for _ in range(5))
    filler = {Connection(): {"connected": moment} for _ in range(2 * APPLICATION_CHECK_SLICE)}
    server.connections = {
        **filler,
        gone_long_ago: {"disconnected": moment - 11, "application_instance": hung},
        gone_lately: {"disconnected": moment - 1, "application_instance": late},
        erring: {"connected": moment, "application_instance": failed},
        ended: {"disconnected": moment - 1, "application_instance": finished},
        open_: {"connected": moment, "application_instance": live},
    }

    def one_round():
        server.application_checker()
        slices = 1
        while scheduled[-1][0] == 0:
            _, fn, args = scheduled.pop()
            fn(*args)
            slices += 1
        assert scheduled.pop()[:2] == (APPLICATION_CHECK_INTERVAL_S, server.application_checker)
        return slices

    assert one_round() == 3
    assert hung.cancelling()  # cancelled: it outlived its connection by over 10 s
    assert not late.done() and not live.done()
    assert ended not in server.connections  # its client left and its application ended
    assert "application_instance" not in server.connections[erring]
    assert [str(e) for e in erring.shown] == ["broken"]
    assert "Exception inside application: broken" in caplog.text

    await asyncio.sleep(0)  # the cancelled one unwinds
    one_round()
    assert gone_long_ago not in server.connections  # reaped once it was cancelled
    assert {gone_lately, erring, open_} <= server.connections.keys()
    assert erring.shown == [erring.shown[0]]  # reported once
    late.cancel()
    live.cancel()
