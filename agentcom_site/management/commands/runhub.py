"""`manage.py runhub`: the whole hub in one process (embedded mode).

Binds its port and, on SQLite, locks the data directory (agentcom_site/startup.py)
before anything touches the database; then migrates if needed, serves HTTP and
WebSockets with daphne and, unless turned off, runs the scheduler and the sweep on the
same event loop.
"""

import argparse
import asyncio
import logging
import os
import signal

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from agentcom_site import startup

log = logging.getLogger("agentcom.hub")


class Command(BaseCommand):
    help = (
        "Run the AgentCom hub in one process: the HTTP API, the dashboard and admin, the "
        "agents' WebSockets, and (unless --no-scheduler) the scheduler and the sweep. Data "
        "lives in AGENTCOM_DATA_DIR (default ./var); stop it with Ctrl-C or SIGTERM."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="address to listen on; 0.0.0.0 for every interface (default: %(default)s)",
        )
        parser.add_argument(
            "--port", type=int, default=8000, help="port to listen on (default: %(default)s)"
        )
        parser.add_argument(
            "--no-scheduler",
            action="store_true",
            help="serve sockets only; run `manage.py schedule` workers beside it (scaled mode)",
        )
        parser.add_argument(
            "--demo",
            action="store_true",
            help="a demo hub in a data directory of its own (<data dir>/demo, wiped on each "
            "start), with two fake agents and a trickle of sample tasks",
        )
        # Set by --demo when it starts the hub again on the demo's data directory.
        parser.add_argument("--demo-isolated", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, host: str, port: int, no_scheduler: bool, demo: bool, **options):
        if demo and not options["demo_isolated"]:
            from agentcom_site import demo as demo_mode

            extra = ["--no-scheduler"] if no_scheduler else []
            demo_mode.isolate(
                ["--host", host, "--port", str(port), *extra, "--demo", "--demo-isolated"]
            )
        # Imported first: it installs the asyncio reactor.
        from agentcom_site.daphne_server import HubServer, reactor

        try:
            listener = startup.bind_listener(host, port)
            if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
                self.data_lock = startup.lock_data_dir(
                    settings.DATA_DIR, url=f"http://{host}:{listener.port}"
                )
        except startup.StartRefused as refusal:
            raise CommandError(str(refusal)) from None
        if demo:
            from agentcom_site import demo as demo_mode

            demo_mode.wipe(settings.DATA_DIR)  # held by this hub's lock now
        call_command("migrate", interactive=False, verbosity=0)

        from channels.db import database_sync_to_async

        from agentcom_site import background
        from agentcom_site.asgi import application

        embedded = settings.AGENTCOM_EMBEDDED_SCHEDULER and not no_scheduler

        background.raise_open_files_limit()
        background.prepare(fresh_start=embedded)

        def ready() -> None:
            # Called before the reactor runs: start the loops on its first turn.
            reactor.callLater(0, background.start, scheduler_enabled=embedded)
            reactor.callLater(0, install_signal_handlers)
            if demo:
                from agentcom_site import demo as demo_mode

                demo_mode.start(host=host, port=port)
            mode = "embedded scheduler" if embedded else "sockets only"
            self.stdout.write(f"AgentCom hub listening on http://{host}:{listener.port} ({mode})")
            self.stdout.flush()

        def install_signal_handlers() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, lambda: asyncio.ensure_future(shut_down()))

        async def shut_down() -> None:
            """Say goodbye to every agent (1000 `shutdown`), then stop serving."""
            closed = await background.wind_down()
            if closed:
                await asyncio.sleep(0.2)  # let the close frames leave
            # The loop stops before every socket's disconnect has run: whatever they
            # left online goes offline here.
            await database_sync_to_async(background.release_this_process)()
            reactor.stop()

        server = HubServer(
            signal_handlers=False,
            application=application,
            endpoints=[listener.endpoint],
            ready_callable=ready,
            # A message over the limit is not buffered past it: the socket closes with
            # 4009 (daphne_server.HubWebSocketProtocol), as the consumer would.
            websocket_max_message_size=settings.AGENTCOM_MAX_FRAME_BYTES,
            websocket_max_frame_size=settings.AGENTCOM_MAX_FRAME_BYTES,
            application_close_timeout=5,
            # Liveness is the protocol's own ping frame (PROTOCOL.md §2.5). Daphne's
            # WebSocket-level pings, every 20 s to every socket, only cost CPU: at
            # 10 000 agents they came in bursts that delayed dispatches by 100 ms.
            ping_interval=24 * 3600,
            ping_timeout=24 * 3600,
            verbosity=0,
        )
        server.run()
        background.stop()
        self.stdout.write("AgentCom hub stopped")
        self.stdout.flush()
        # Worker threads may still be waiting to hand a frame to the stopped loop. Every
        # state change is already committed and each frame is re-derivable from it, so
        # leaving now loses nothing and does not hang the shutdown.
        os._exit(0)
