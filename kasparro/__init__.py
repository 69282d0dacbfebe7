"""Kasparro: the composition root (settings, command line, logging)."""

__version__ = "0.1.0"
