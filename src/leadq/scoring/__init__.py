"""Scoring: every open lead scored by a registered model, routed to a stage, with reasons and a drift report."""
