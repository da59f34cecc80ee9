"""Shared infrastructure for rentflow services. Imported, never run on its own."""
