"""Shared pytest configuration: fixtures live in tests/fixtures and are registered here."""

from importlib.util import find_spec

pytest_plugins = ["tests.fixtures.pool", "tests.fixtures.s3", "tests.fixtures.micro", "tests.fixtures.writers",
                  "tests.fixtures.isolated"]
if find_spec("xdist") is not None:  # `make test` runs the suite on two workers (-n 2 --dist loadgroup)
    pytest_plugins.append("tests.fixtures.xdist_workers")
