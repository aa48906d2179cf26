"""`python -m tools.bench [--quick]`: start a private stack, run the scenarios, write docs/benchmarks.md.

Drives the shop only over HTTP and reads results through the app registry / SQL,
so, like the rest of tools/, it imports no context (import-linter checks it).
"""
