"""The provider's data sources."""
