"""Slotgate: global concurrency limits and rate limits."""
