"""Whole-slide images to patch features: readers, tissue segmentation, patching, encoders.

Everything here needs the ``wsi`` extra (openslide/tiffslide, scikit-image, timm); the rest of
steph never imports this package, so a workspace of precomputed features works without it.
"""
