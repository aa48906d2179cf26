"""`python -m tools.soak [--minutes 10]`: a private stack under mixed load and chaos, then the invariants."""
