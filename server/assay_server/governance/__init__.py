"""Governance: benchmarks, policies as code, promotion requests (the gate), stage history."""
