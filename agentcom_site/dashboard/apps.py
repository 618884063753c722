from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "agentcom_site.dashboard"
    label = "dashboard"
    verbose_name = "AgentCom dashboard"

    def ready(self) -> None:
        # Subscribed in every process (hub, `schedule` workers, commands) so that a change
        # committed anywhere reaches the dashboards, whichever process holds their socket.
        from agentcom_site.dashboard import feed, state

        state.mark_started()
        feed.connect_listeners()
