"""Matching model builders (registered on import)."""
