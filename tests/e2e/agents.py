"""Scripted agents for end-to-end runs: they accept and complete whatever they are given."""

import asyncio
from collections import Counter
from typing import Any

from tests.e2e.harness import AgentClient


class InstantAgent:
    """Accepts each `task_assign` and completes it at once (or after `delay`)."""

    def __init__(self, client: AgentClient, *, delay: float = 0.0) -> None:
        self.client = client
        self.delay = delay
        self.completed: list[str] = []
        self.assigned: list[dict[str, Any]] = []
        self.task: asyncio.Task | None = None

    def start(self) -> "InstantAgent":
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            frame = await self.client.recv(timeout=3600)
            if frame["type"] != "task_assign":
                continue
            self.assigned.append(frame)
            task_id, generation = frame["task_id"], frame["generation"]
            await self.client.send(
                {"type": "task_accepted", "task_id": task_id, "generation": generation}
            )
            if self.delay:
                await asyncio.sleep(self.delay)
            await self.client.send(
                {
                    "type": "task_complete",
                    "task_id": task_id,
                    "generation": generation,
                    "result": {"status": "success", "agent": self.client.agent_id},
                }
            )
            self.completed.append(task_id)

    async def stop(self) -> None:
        # The socket closes first, which ends the loop's `recv`. Cancelling first was not
        # enough: Python 3.11's `wait_for` drops a cancellation that arrives as its frame
        # does (other agents' `agent_left` pushes, while a fleet stops), and the loop then
        # ran on until the hub closed the silent socket at the ping TTL, 60 s later.
        await self.client.close()
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def wait_until(predicate, timeout: float = 60, interval: float = 0.05, *, seen=None) -> None:
    """Wait for a condition observed from outside (an HTTP read).

    A timeout names the condition and, when `seen` is given (a function, sync or async),
    what it returned last: the state the test was stuck in.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            what = getattr(predicate, "__qualname__", repr(predicate))
            state = ""
            if seen is not None:
                observed = seen()
                if asyncio.iscoroutine(observed):
                    observed = await observed
                state = f"; last seen: {observed!r}"
            raise TimeoutError(f"{what} not met within {timeout}s{state}")
        await asyncio.sleep(interval)


def completions_per_task(events_by_task: dict[str, list[dict]]) -> Counter:
    return Counter(
        {
            task_id: sum(1 for e in events if e["event"] == "completed")
            for task_id, events in events_by_task.items()
        }
    )
