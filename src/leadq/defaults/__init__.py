"""Files shipped with the package: the default pipeline config (every setting at its default) and
the default rule scorecard. `pipelines/default.yaml` and `pipelines/rules/default.yaml` in the
source tree point here."""
