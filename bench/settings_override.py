"""Bench-only settings: the hub's settings with the Redis client's socket timeout lifted.

redis-py 8 (pulled in unpinned by channels-redis) reads with a 5 s socket timeout by
default, and channels-redis blocks in BZPOPMIN for 5 s (`brpop_timeout`): the read times
out first, the channel layer's `receive` raises `redis.exceptions.TimeoutError`, and the
consumer that was waiting dies (its socket closes) and the `schedule` worker's trigger
listener fails every ~6 s. The scaled-mode benchmarks use this module
(DJANGO_SETTINGS_MODULE=bench.settings_override) unless run with --stock-redis, so that
they measure the hub rather than that failure. The hub's own settings should do the same
(a host dict with "socket_timeout": None or above brpop_timeout, or pin redis<8).
"""

from agentcom_site.settings import *  # noqa: F403
from agentcom_site.settings import CHANNEL_LAYERS, REDIS_URL

if REDIS_URL and CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis"):
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [{"address": REDIS_URL, "socket_timeout": None}]
