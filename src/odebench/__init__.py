"""odebench."""
