"""The rentflow command."""
