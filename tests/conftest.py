"""Shared test configuration. Keep this minimal: fixtures used by one test file belong in that file."""
