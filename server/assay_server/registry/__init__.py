"""Models, versions, artifacts, and reference data."""
