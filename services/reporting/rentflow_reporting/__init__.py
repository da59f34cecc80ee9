"""rentflow reporting service."""
