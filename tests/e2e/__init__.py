"""End-to-end tests: the real ``catalogctl`` CLI against real test brokers over HTTP,
a cluster directory or the Kubernetes API server emulator, and a local state directory."""
