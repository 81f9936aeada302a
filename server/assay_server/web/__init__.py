"""The server-rendered UI: sign-in, models, reports, alerts and the delivery log."""
