"""Local stacks for development, tests and benchmarks: embedded NATS, PostgreSQL and Envoy
from wheels, Envoy configuration for loopback, and :class:`~.stack.Stack`, the whole
platform as child processes. Production code never imports this package."""
