"""Explanations: LIME explanations of registered models, computed in isolated worker processes."""
