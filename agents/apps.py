from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"

    def ready(self) -> None:
        from agentcom_site.core import auth
        from agentcom_site.core import frames as socket_frames
        from agents import frames, push, resources, tokens

        auth.register_authenticator(tokens.authenticate)
        socket_frames.register({**frames.HANDLERS, **resources.HANDLERS})
        push.connect_listeners()
