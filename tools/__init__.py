"""Tooling run beside the shop, never inside it: the bench, the soak, make prod and the process launcher."""
