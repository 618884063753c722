from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self) -> None:
        from agentcom_site.events import subscribe
        from messaging import analytics, delivery

        subscribe(delivery.on_event)
        subscribe(analytics.on_presence)
