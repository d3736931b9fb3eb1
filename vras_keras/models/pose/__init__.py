"""Pose model builders (registered on import)."""
