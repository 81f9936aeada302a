"""The server-rendered UI (for now: sign-in and the model list)."""
