"""Compare: learned scores against the rule scorecard on the model's held-out window, and its report."""
