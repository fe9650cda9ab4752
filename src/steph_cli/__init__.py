"""steph: cross-cancer survival prognosis from whole-slide images by model merging (STEPH)."""

__version__ = "0.1.0"
