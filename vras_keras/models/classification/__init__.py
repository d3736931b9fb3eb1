"""Classification model builders (registered on import)."""
