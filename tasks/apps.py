from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"

    def ready(self) -> None:
        from agentcom_site.core import frames as socket_frames
        from agentcom_site.core import healthreport
        from agentcom_site.core.events import subscribe
        from agents import holdings
        from tasks import flow, frames, holders, queue, scheduler

        holdings.provide(holders.TaskHoldings())
        socket_frames.register(frames.HANDLERS)
        subscribe(queue.on_agent_left)
        scheduler.connect_listeners()
        healthreport.register("dispatch", flow.health_section)
