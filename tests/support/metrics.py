"""Reading the server's Prometheus exposition in tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def of_limit(exposition: str, limit: str) -> dict[str, float]:
    """The samples labelled with this limit alone, by sample name."""
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.labels == {"limit": limit}
    }


def sample(exposition: str, name: str, **labels: str) -> float | None:
    """One sample's value, or None if the exposition has no such sample."""
    for family in text_string_to_metric_families(exposition):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return None
