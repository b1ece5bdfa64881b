"""pipespec benchmarks: pipespec side by side with the tools users would pick instead.

Run from the repository root: ``python -m bench`` (full) or ``python -m bench --quick`` (smoke).
"""
