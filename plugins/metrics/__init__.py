"""Built-in metric definitions."""
