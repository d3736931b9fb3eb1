"""Readers and writers of standard dataset formats (folders, COCO, VOC, mask PNGs)."""
