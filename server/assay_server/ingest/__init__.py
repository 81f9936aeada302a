"""Predictions and ground truth: wire formats, validation, storage, and reading windows back."""
