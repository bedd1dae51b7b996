"""Pieces every process shares: configuration, logging, user-facing texts."""
