"""Detection model builders (registered on import)."""
