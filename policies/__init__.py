"""The policy gate: the platform spec's rules as code, run on every plan and before every converge."""
