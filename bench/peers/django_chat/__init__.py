"""The Django Channels chat peer: the Channels tutorial's consumer, served by uvicorn.

``BENCH_CHANNEL_LAYER`` picks the layer: ``memory`` (InMemoryChannelLayer, one process)
or ``redis`` (channels_redis on ``BENCH_REDIS_URL``).
"""
