"""The pure checks: drift, data quality, bias, performance and its estimation.

Arrays in, results out: nothing here imports Flask or the store, so each check is tested
against its oracle library (Evidently, fairlearn, scikit-learn) on the same data.
"""
