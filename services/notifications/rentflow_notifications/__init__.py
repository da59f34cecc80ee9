"""rentflow notifications service."""
