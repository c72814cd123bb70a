"""Fixtures of the push tests: the shared throwaway redis-server (see tests/redis_server.py)."""

from redis_server import clean_redis, redis_server

__all__ = ["clean_redis", "redis_server"]
