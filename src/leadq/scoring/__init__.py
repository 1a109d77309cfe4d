"""Scoring: every open lead scored by a registered model, routed to a stage, with reasons and a
drift report, written to a file or, in one transaction per night, to database tables."""
