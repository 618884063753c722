from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"

    def ready(self) -> None:
        from agentcom_site.core import frames as socket_frames
        from tasks import frames, scheduler

        socket_frames.register(frames.HANDLERS)
        scheduler.connect_listeners()
