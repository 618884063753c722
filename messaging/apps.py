from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self) -> None:
        from agentcom_site.core import frames as socket_frames
        from agentcom_site.core.events import subscribe
        from messaging import analytics, delivery, frames

        socket_frames.register(
            frames.HANDLERS,
            on_identified=frames.on_identified,
            on_disconnected=frames.on_disconnected,
        )
        subscribe(delivery.on_event)
        subscribe(analytics.on_presence)
