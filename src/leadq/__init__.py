"""leadq: lead-quality scoring with point-in-time features, MLflow tracking and batch scoring."""

__version__ = "0.1.0"
