"""Online stores: one row per entity key and view, for low-latency reads.

Every backend implements :class:`skewless._contracts.OnlineStore` over the same bytes
(:mod:`skewless.online.codec`); ``sqlite/`` is the embedded default.
"""
