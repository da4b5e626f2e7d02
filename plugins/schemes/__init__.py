"""Scoring schemes: the declarative engine and the packs built on it."""
