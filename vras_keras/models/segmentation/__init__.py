"""Segmentation model builders (registered on import)."""
