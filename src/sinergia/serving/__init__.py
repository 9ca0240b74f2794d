"""Recompute: turn the analytics engine into what the app reads (snapshots, metric and score history)."""
