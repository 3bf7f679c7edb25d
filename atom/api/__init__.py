"""Shared API plumbing: errors, authentication helpers, pagination, rate limits, permissions."""
