"""The hash-chained, append-only audit trail: append, list, verify, export."""
