"""Discrete-time survival: time bins, the NLL loss, survival curves, risk scores, metrics."""
