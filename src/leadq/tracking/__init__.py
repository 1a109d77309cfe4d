"""Tracking: the MLflow store, run logging, the registry and its quality gate, and the multi-target pyfunc. The only layer that imports mlflow."""
