"""Synthetic multi-cancer cohorts for the demo and the tests."""
