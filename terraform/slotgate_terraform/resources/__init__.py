"""The provider's resources."""
