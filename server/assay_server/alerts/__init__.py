"""Alerts raised from monitoring reports, notification channels, and their durable outbox."""
