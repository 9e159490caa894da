"""Shared pytest configuration: fixtures live in tests/fixtures and are registered here."""

pytest_plugins = ["tests.fixtures.pool", "tests.fixtures.s3", "tests.fixtures.micro", "tests.fixtures.writers",
                  "tests.fixtures.isolated"]
