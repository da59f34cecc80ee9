"""rentflow payments service."""
