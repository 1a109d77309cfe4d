"""Monitoring: issued scores against the outcomes they predicted (realized metrics with bootstrap
intervals), drift per scoring date, a verdict per model version and its report."""
