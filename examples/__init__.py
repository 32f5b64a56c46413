"""Runnable examples: desired-state YAML, a demo OSB broker and CI samples."""
