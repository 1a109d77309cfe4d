"""Models: candidate pipelines, fitting and calibration, thresholds, metrics, the leakage audit, reasons, drift and evaluation plots."""
