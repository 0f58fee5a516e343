"""devstack: run the whole platform as local processes (five uvicorn services and Nginx).

Used by ``make run``, by the system tests and by the benchmarks, so all three run the
platform the same way.
"""

from devstack.stack import SERVICES, Stack, StackError, free_port, render_gateway_config

__all__ = ["SERVICES", "Stack", "StackError", "free_port", "render_gateway_config"]
