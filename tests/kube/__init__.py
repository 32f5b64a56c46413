"""An in-process Kubernetes API server emulator for tests.

No real kube-apiserver can be installed in this environment, so the project's tests talk to this
emulator over real HTTP instead. It speaks the REST protocol that the official ``kubernetes`` client
and ``kubectl`` 1.27 use, and it answers with the same status codes and ``Status`` bodies as a real
apiserver, so error handling written against it holds against a cluster.
"""

from tests.kube.hooks import FaultRule, RequestRecord
from tests.kube.server import EmulatorServer
from tests.kube.store import Store

__all__ = ["EmulatorServer", "FaultRule", "RequestRecord", "Store"]
