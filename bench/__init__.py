"""Benchmarks: plain scripts run as ``python -m bench.<name>``, printing ratios to a baseline."""
