"""``KubeCluster``: the :class:`ClusterTarget` that talks to the Kubernetes API.

Calls go through the official client's typed methods with
``_preload_content=False`` so objects stay plain JSON dicts: the pure code in
``secrets.py``/``mappings.py`` works on the same shapes the directory target
reads from YAML, and nothing is lost in model round trips.

Errors are translated into :class:`KubeApiError` (a ClusterError) carrying the
status code and the apiserver's ``reason``; the client's ``ApiException`` is
never chained, because its text includes response bodies and headers, which
for Secrets could carry data.

Writes use optimistic concurrency: a Secret update is a PUT with the
``resourceVersion`` read just before, a workload patch carries it too, and a
409 Conflict (someone else wrote in between) re-reads and retries, a bounded
number of times.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from catalogctl.errors import ClusterError
from catalogctl.providers.kubernetes.access import Access
from catalogctl.providers.kubernetes.connection import KubeConnection
from catalogctl.providers.kubernetes.mappings import (
    POD_SPEC_PATHS,
    MappingEntries,
    MappingObservation,
    MappingPatch,
    WorkloadNotFound,
    observe_entries,
    plan_apply,
    plan_remove,
    with_element_order,
)
from catalogctl.providers.kubernetes.rollouts import RolloutStatus, rollout_status
from catalogctl.providers.kubernetes.secrets import (
    SecretObservation,
    check_owner,
    decode_data,
    observation_of,
    secret_data_digest,
    secret_manifest,
)
from catalogctl.providers.kubernetes.statemark import StateMark

__all__ = ["CRON_JOB_VERSIONS", "FIELD_MANAGER", "MAX_ATTEMPTS", "KubeApiError", "KubeCluster"]

logger = logging.getLogger(__name__)

FIELD_MANAGER: Final = "catalogctl"
MAX_ATTEMPTS: Final = 5
REQUEST_TIMEOUT_S: Final = 30.0
SMP: Final = "application/strategic-merge-patch+json"

#: kind → (API class name, method suffix); CronJob is looked up by discovery instead.
_WORKLOAD_API: Final[dict[str, tuple[str, str]]] = {
    "Deployment": ("AppsV1Api", "deployment"),
    "StatefulSet": ("AppsV1Api", "stateful_set"),
    "DaemonSet": ("AppsV1Api", "daemon_set"),
    "Job": ("BatchV1Api", "job"),
}
#: Versions of the batch group that may serve CronJobs, preferred first: batch/v1 from
#: Kubernetes 1.21, batch/v1beta1 only up to 1.24. A cluster serves one or both.
CRON_JOB_VERSIONS: Final = ("v1", "v1beta1")


class KubeApiError(ClusterError):
    """The apiserver answered with an error status.

    ``status`` is the HTTP code, ``reason`` the Status ``reason`` (``NotFound``,
    ``Conflict``, ``AlreadyExists``, ``Forbidden``, ``Invalid``…).
    """

    def __init__(self, message: str, status: int, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def _api_error(what: str, exc: Any) -> KubeApiError:
    status = int(getattr(exc, "status", 0) or 0)
    reason = str(getattr(exc, "reason", "") or "")
    message = ""
    try:
        body = json.loads(getattr(exc, "body", None) or "{}")
        if isinstance(body, dict) and body.get("kind") == "Status":
            reason = str(body.get("reason") or reason)
            message = str(body.get("message") or "")
    except ValueError:
        pass
    if len(message) > 256:
        message = message[:253] + "..."
    detail = f": {message}" if message else ""
    return KubeApiError(f"{what}: {status} {reason}{detail}", status, reason)


class KubeCluster:
    """A cluster reached through a :class:`KubeConnection` (kubeconfig or in-cluster)."""

    def __init__(self, connection: KubeConnection, *, timeout: float = REQUEST_TIMEOUT_S) -> None:
        self.connection = connection
        self.timeout = timeout
        self._cron_job_version: str | None = None

    @classmethod
    def from_api_client(cls, api_client: Any, namespace: str = "default") -> KubeCluster:
        """A target on an existing ``kubernetes.client.ApiClient``."""
        return cls(KubeConnection.from_api_client(api_client, namespace))

    @property
    def description(self) -> str:
        return self.connection.description

    @property
    def default_namespace(self) -> str:
        return self.connection.namespace

    # --- plumbing ---------------------------------------------------------------------------------

    def _api(self, name: str) -> Any:
        from kubernetes import client

        return getattr(client, name)(self.connection.api_client())

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            resp = fn(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs)
        except ApiException as e:
            raise _api_error(what, e) from None
        except (HTTPError, OSError) as e:
            raise ClusterError(
                f"{what}: cannot reach {self.connection.description}: {type(e).__name__}"
            ) from None
        try:
            data = json.loads(resp.data or b"{}")
        except ValueError:
            raise ClusterError(f"{what}: the API answered with a body that is not JSON") from None
        finally:
            # Raw responses do not return their connection to the pool by themselves.
            release = getattr(resp, "release_conn", None)
            if callable(release):
                release()
        return data if isinstance(data, dict) else {}

    def _get(self, what: str, fn: Callable[..., Any], *args: Any) -> dict[str, Any] | None:
        try:
            return self._call(what, fn, *args)
        except KubeApiError as e:
            if e.status == 404:
                return None
            raise

    # --- Secrets ----------------------------------------------------------------------------------

    def _read_secret_object(self, namespace: str, name: str) -> dict[str, Any] | None:
        core = self._api("CoreV1Api")
        return self._get(
            f"read Secret {namespace}/{name}", core.read_namespaced_secret, name, namespace
        )

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        obj = self._read_secret_object(namespace, name)
        return None if obj is None else decode_data(obj.get("data") or {})

    def read_secret_key(self, namespace: str, name: str, key: str) -> bytes | None:
        data = self.read_secret(namespace, name)
        return None if data is None else data.get(key)

    def observe_binding_secret(self, namespace: str, name: str) -> SecretObservation:
        return observation_of(namespace, name, self._read_secret_object(namespace, name))

    def write_binding_secret(
        self,
        *,
        namespace: str,
        name: str,
        owner: str,
        data: Mapping[str, bytes],
        mark: StateMark | None = None,
    ) -> SecretObservation:
        core = self._api("CoreV1Api")
        ref = f"Secret {namespace}/{name}"
        digest = secret_data_digest(data)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            current = self._read_secret_object(namespace, name)
            try:
                if current is None:
                    body = secret_manifest(namespace, name, owner, data, mark=mark)
                    created = self._call(
                        f"create {ref}",
                        core.create_namespaced_secret,
                        namespace,
                        body,
                        field_manager=FIELD_MANAGER,
                    )
                    logger.info("created %s for %s", ref, owner)
                    return observation_of(namespace, name, created)
                check_owner(
                    "Secret",
                    namespace,
                    name,
                    current.get("metadata") or {},
                    owner,
                    "overwrite",
                    mark,
                )
                body = secret_manifest(namespace, name, owner, data, base=current, mark=mark)
                before = observation_of(namespace, name, current)
                old_meta = current.get("metadata") or {}
                if (
                    before.data_sha256 == digest
                    and old_meta.get("labels") == body["metadata"]["labels"]
                    and old_meta.get("annotations") == body["metadata"]["annotations"]
                ):
                    return before
                updated = self._call(
                    f"update {ref}",
                    core.replace_namespaced_secret,
                    name,
                    namespace,
                    body,
                    field_manager=FIELD_MANAGER,
                )
                logger.info("updated %s for %s", ref, owner)
                return observation_of(namespace, name, updated)
            except KubeApiError as e:
                if e.status in (404, 409) and attempt < MAX_ATTEMPTS:
                    logger.debug("%s changed concurrently (%s); retrying", ref, e.reason)
                    continue
                raise
        raise ClusterError(f"write {ref}: gave up after {MAX_ATTEMPTS} conflicting attempts")

    def delete_binding_secret(self, *, namespace: str, name: str, owner: str) -> bool:
        core = self._api("CoreV1Api")
        ref = f"Secret {namespace}/{name}"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            current = self._read_secret_object(namespace, name)
            if current is None:
                return False
            meta = current.get("metadata") or {}
            check_owner("Secret", namespace, name, meta, owner, "delete")
            body = {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "preconditions": {
                    "uid": meta.get("uid"),
                    "resourceVersion": meta.get("resourceVersion"),
                },
            }
            try:
                self._call(
                    f"delete {ref}", core.delete_namespaced_secret, name, namespace, body=body
                )
                logger.info("deleted %s of %s", ref, owner)
                return True
            except KubeApiError as e:
                if e.status == 404:
                    return False
                if e.status == 409 and attempt < MAX_ATTEMPTS:
                    continue
                raise
        raise ClusterError(f"delete {ref}: gave up after {MAX_ATTEMPTS} conflicting attempts")

    # --- workloads --------------------------------------------------------------------------------

    def cron_job_version(self) -> str:
        """The batch API version this cluster serves CronJobs at (discovered once; a read
        only, so plan may call it)."""
        if self._cron_job_version is None:
            custom = self._api("CustomObjectsApi")
            for version in CRON_JOB_VERSIONS:
                found = self._get(
                    f"discover batch/{version}", custom.get_api_resources, "batch", version
                )
                resources = (found or {}).get("resources") or []
                if any(r.get("name") == "cronjobs" for r in resources if isinstance(r, dict)):
                    self._cron_job_version = version
                    break
            else:
                raise ClusterError(
                    f"{self.description} serves no CronJob API "
                    f"(looked for cronjobs in batch/{' and batch/'.join(CRON_JOB_VERSIONS)})"
                )
        return self._cron_job_version

    def _cron_job_methods(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        custom = self._api("CustomObjectsApi")
        version = self.cron_job_version()

        def read(name: str, namespace: str, **kwargs: Any) -> Any:
            return custom.get_namespaced_custom_object(
                "batch", version, namespace, "cronjobs", name, **kwargs
            )

        def patch(name: str, namespace: str, body: Any, **kwargs: Any) -> Any:
            return custom.patch_namespaced_custom_object(
                "batch", version, namespace, "cronjobs", name, body, **kwargs
            )

        return read, patch

    def _workload_methods(self, kind: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
        if kind == "CronJob":
            return self._cron_job_methods()
        entry = _WORKLOAD_API.get(kind)
        if entry is None:
            raise ClusterError(
                f"kind {kind} cannot be a PodMapping target (one of {', '.join(POD_SPEC_PATHS)})"
            )
        api = self._api(entry[0])
        return (
            getattr(api, f"read_namespaced_{entry[1]}"),
            getattr(api, f"patch_namespaced_{entry[1]}"),
        )

    def read_workload(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        read, _ = self._workload_methods(kind)
        obj = self._get(f"read {kind} {namespace}/{name}", read, name, namespace)
        if obj is not None:
            # The API omits kind/apiVersion in some client paths; the pure code needs them.
            obj.setdefault("kind", kind)
        return obj

    def rollout_status(self, namespace: str, kind: str, name: str) -> RolloutStatus:
        obj = self.read_workload(namespace, kind, name)
        if obj is None:
            return RolloutStatus(False, "it no longer exists", failed=True)
        return rollout_status(obj)

    def _require_workload(self, namespace: str, kind: str, name: str) -> dict[str, Any]:
        obj = self.read_workload(namespace, kind, name)
        if obj is None:
            raise WorkloadNotFound(
                f"{kind} {namespace}/{name} not found in {self.description}; a PodMapping can only "
                f"patch an existing workload (create it first, or fix spec.target)"
            )
        return obj

    def observe_mapping(
        self, *, namespace: str, kind: str, name: str, address: str, entries: MappingEntries | None
    ) -> MappingObservation:
        if entries is None:
            obj = self.read_workload(namespace, kind, name)
            if obj is None:
                return MappingObservation(address, f"{kind}/{namespace}/{name}", False, False)
        else:
            obj = self._require_workload(namespace, kind, name)
        return observe_entries(obj, address, entries)

    def _patch_loop(
        self,
        namespace: str,
        kind: str,
        name: str,
        compute: Callable[[dict[str, Any]], MappingPatch],
        missing_ok: bool,
    ) -> MappingPatch | None:
        _, patch_fn = self._workload_methods(kind)
        ref = f"{kind} {namespace}/{name}"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            obj = self.read_workload(namespace, kind, name)
            if obj is None:
                if missing_ok:
                    return None
                obj = self._require_workload(namespace, kind, name)
            result = compute(obj)
            if not result.changed:
                return result
            body = json.loads(json.dumps(with_element_order(result.patch, result.after)))
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                body.setdefault("metadata", {})["resourceVersion"] = rv
            try:
                self._call(
                    f"patch {ref}",
                    patch_fn,
                    name,
                    namespace,
                    body,
                    field_manager=FIELD_MANAGER,
                    _content_type=SMP,
                )
                for change in result.changes:
                    logger.info("%s: %s", ref, change)
                return result
            except KubeApiError as e:
                if e.status == 409 and attempt < MAX_ATTEMPTS:
                    logger.debug("%s changed concurrently; recomputing the patch", ref)
                    continue
                if e.status == 404 and missing_ok:
                    return None
                raise
        raise ClusterError(f"patch {ref}: gave up after {MAX_ATTEMPTS} conflicting attempts")

    def apply_mapping(
        self, *, namespace: str, kind: str, name: str, entries: MappingEntries
    ) -> MappingPatch:
        result = self._patch_loop(
            namespace, kind, name, lambda obj: plan_apply(obj, entries), missing_ok=False
        )
        assert result is not None
        return result

    def remove_mapping(
        self, *, namespace: str, kind: str, name: str, address: str
    ) -> MappingPatch | None:
        return self._patch_loop(
            namespace, kind, name, lambda obj: plan_remove(obj, address), missing_ok=True
        )

    # --- namespaces -------------------------------------------------------------------------------

    def namespace_uid(self, namespace: str) -> str | None:
        core = self._api("CoreV1Api")
        try:
            obj = self._call(f"read Namespace {namespace}", core.read_namespace, namespace)
        except KubeApiError as e:
            if e.status in (401, 403, 404):
                logger.debug("namespace %s uid unavailable: %s", namespace, e.reason)
                return None
            raise
        uid = (obj.get("metadata") or {}).get("uid")
        return str(uid) if uid else None

    # --- permissions ------------------------------------------------------------------------------

    def check_access(self, accesses: Sequence[Access]) -> list[str]:
        """Ask the API server (``SelfSubjectAccessReview``) about each access; list refusals.

        Also lists namespaces that do not exist (writes there would fail too).
        An unreachable server is one problem: the first review finds it alone.
        The rest go out a few at a time, as a run touching many namespaces asks
        hundreds.
        """
        if not accesses:
            return []
        first = self._review(accesses[0])
        if isinstance(first, ClusterError):
            return [str(first)]
        namespaces = sorted({a.namespace for a in accesses})
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="catalogctl-preflight") as pool:
            answers = [first, *pool.map(self._review, accesses[1:])]
            found = list(pool.map(self._namespace_exists, namespaces))
        problems = [
            f"{self.description}: namespace {namespace} does not exist"
            for namespace, exists in zip(namespaces, found, strict=True)
            if exists is False
        ]
        for access, answer in zip(accesses, answers, strict=True):
            if isinstance(answer, ClusterError):
                if str(answer) not in problems:
                    problems.append(str(answer))
            elif answer is not True:
                why = f" ({answer})" if answer else ""
                problems.append(f"{self.description}: not allowed to {access}{why}")
        return problems

    def _review(self, access: Access) -> bool | str | ClusterError:
        """True when allowed; else the server's reason (may be empty), or the error met."""
        api = self._api("AuthorizationV1Api")
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": access.namespace,
                    "group": access.group,
                    "resource": access.resource,
                    "verb": access.verb,
                }
            },
        }
        try:
            review = self._call("check access", api.create_self_subject_access_review, body)
        except ClusterError as e:
            return e
        status = review.get("status") or {}
        if status.get("allowed") is True:
            return True
        return str(status.get("reason") or "")

    def _namespace_exists(self, namespace: str) -> bool | None:
        """Whether the namespace exists; None when reading it is not allowed (or fails)."""
        core = self._api("CoreV1Api")
        try:
            self._call(f"read Namespace {namespace}", core.read_namespace, namespace)
        except KubeApiError as e:
            return False if e.status == 404 else None
        except ClusterError:
            return None
        return True
