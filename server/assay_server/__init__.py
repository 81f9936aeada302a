"""Assay server: model registry, audit trail, monitoring and governance behind one HTTP API."""

__version__ = "0.1.0"
