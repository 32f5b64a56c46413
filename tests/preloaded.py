"""Imported once by the fork server of :mod:`tests.processes`, before it forks any child.

Everything a catalogctl run imports is loaded here, so a forked run starts at
its first line of work: every catalogctl module, what httpx imports when its
first client is made, and the Kubernetes client's API and model classes (the
client loads each on first use, hundreds in a run against an API server).
"""

from __future__ import annotations

import importlib
import os
import pkgutil

import catalogctl

# Children talk to servers on 127.0.0.1 only; a proxy set for the machine must not carry
# that traffic (the fork server keeps the environment it was started with).
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
    os.environ.pop(_name, None)
    os.environ.pop(_name.lower(), None)

for _info in pkgutil.walk_packages(catalogctl.__path__, "catalogctl."):
    if not _info.name.endswith("__main__"):  # importing it would run the CLI
        importlib.import_module(_info.name)

for _name in ("httpcore", "h11", "anyio._backends._asyncio", "certifi", "sniffio"):
    importlib.import_module(_name)

import kubernetes.client  # noqa: E402

for _name in dir(kubernetes.client):
    getattr(kubernetes.client, _name)

# Test modules whose functions run in children.
import tests.conftest  # noqa: E402
import tests.processes  # noqa: E402
import tests.state.conformance  # noqa: E402, F401
