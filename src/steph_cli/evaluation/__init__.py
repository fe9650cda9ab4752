"""k-fold evaluation of experts and merged models, and comparisons between them."""
