"""Shared pytest configuration: fixture plugins that start real servers on 127.0.0.1."""

pytest_plugins = [
    "tests.fixtures.kube",
    "tests.fixtures.cluster",
    "tests.fixtures.brokers",
    "tests.fixtures.postgres",
]
