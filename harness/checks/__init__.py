"""Checkers: pure functions of the history that return a verdict and counts."""
