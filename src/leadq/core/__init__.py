"""Core: what every layer may use — user errors and exit codes, YAML loading, atomic file writes, the HTML report renderer."""
