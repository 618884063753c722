"""`manage.py schedule`: a scheduler and sweep worker for the scaled mode.

Any number of these run beside the ASGI processes, sharing Postgres and Redis. Claims
are atomic, so workers never double-assign; triggers reach whichever worker is free.
SIGTERM or SIGINT lets the current pass or sweep finish, then the worker exits 0.
"""

import asyncio
import logging
import signal

from django.core.management.base import BaseCommand

from agentcom_site.background import log_level_loop, process_loop, sweep_loop
from agentcom_site.core import metrics, transport
from agentcom_site.operations import webhooks
from agentcom_site.operations.loglevel import apply_stored_level
from tasks import scheduler

log = logging.getLogger("agentcom.schedule")


class Command(BaseCommand):
    help = "Run scheduling passes on every trigger and the periodic sweep until SIGTERM."

    def handle(self, *args, **options) -> None:
        metrics.prepare_process()
        apply_stored_level()
        asyncio.run(self._run())
        metrics.forget_process()
        self.stdout.write("scheduler worker stopped")

    async def _run(self) -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        transport.attach_outbox()
        worker = scheduler.install_local_loop()
        sweeper = asyncio.create_task(sweep_loop(stopping))
        # Hosts no socket, but releases the agents of hub processes that died.
        releaser = asyncio.create_task(process_loop(hosting=False, stopping=stopping))
        levels = asyncio.create_task(log_level_loop(stopping))
        self.stdout.write("scheduler worker running")
        self.stdout.flush()
        await stopping.wait()
        await worker.stop()  # a pass in flight completes in its thread before this returns
        await sweeper
        await releaser
        await levels
        # Deliveries in flight finish, rather than be sent again when their lease runs out.
        await asyncio.to_thread(webhooks.stop)
        scheduler.uninstall_local_loop()
        transport.detach_outbox()
        log.info("scheduler worker: %d passes, %d assignments", worker.passes, worker.assigned)
