"""Task vectors and the methods that merge them, over one stacked [M, P] tensor layout.

The pool of models (``pool``) is separate from the methods that merge them (``methods``,
one module each, registered by name) and from evaluation.
"""
