"""Monitoring: monitors, their scheduled runs, and the reports the runs store."""
