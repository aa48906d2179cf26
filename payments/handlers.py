"""Event handlers of this context."""
