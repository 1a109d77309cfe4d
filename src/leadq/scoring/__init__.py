"""Scoring: where a night's scores go once they are computed (files or database tables)."""
