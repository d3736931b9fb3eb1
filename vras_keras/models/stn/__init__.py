"""Stn model builders (registered on import)."""
