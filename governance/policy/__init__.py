"""Least-privilege policy suggestions: the allowlist built from observed calls, what it would
deny of what is allowed today, Istio's CRD schemas it is validated against, and its YAML."""
