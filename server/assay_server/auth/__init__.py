"""Tokens, roles, and the authorization rule every route declares."""
