"""Benchmarks of a real Slotgate server: `python -m bench`."""
