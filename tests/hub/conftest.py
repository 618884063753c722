"""Consumer tests run the real ASGI application on the test's own event loop."""

import pytest
from channels.layers import channel_layers, get_channel_layer


@pytest.fixture(autouse=True)
async def fresh_channel_layer():
    """A channel layer per test: channels-redis binds its connections to one event loop."""
    channel_layers.backends.clear()
    yield
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        await layer.flush()
    channel_layers.backends.clear()
