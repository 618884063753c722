"""The channel layer of the embedded hub."""

import time

from channels.layers import InMemoryChannelLayer


class HubInMemoryChannelLayer(InMemoryChannelLayer):
    """Channels' in-memory layer with its expiry sweep run at most once per interval.

    The stock layer walks every channel and every group membership on each receive
    and group_send, so with N sockets in the process each frame costs O(N) and
    N agents connecting cost O(N²). Expiry only has to happen eventually.
    """

    clean_interval_s = 1.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._cleaned_at = 0.0

    def _clean_expired(self) -> None:
        moment = time.monotonic()
        if moment - self._cleaned_at >= self.clean_interval_s:
            self._cleaned_at = moment
            super()._clean_expired()
