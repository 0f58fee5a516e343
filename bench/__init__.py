"""The platform's benchmarks: ``make bench`` (full profile) and a smoke profile in ``make test``.

Each scenario measures the platform side by side with the peers a user would pick instead
and with the ceiling of the stack, in one run on one machine; see ``bench/README.md``.
"""
