"""Semantic checks that a schema cannot express: names, references, exclusivity.

Every check returns :class:`Problem` values instead of raising, so one run of
``catalogctl validate`` lists everything wrong with the input.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

from catalogctl.errors import Problem
from catalogctl.model.address import Address
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.brokers import Broker
from catalogctl.model.desired import Desired, LoadedResource
from catalogctl.model.instances import SELECTOR_FORMS, ParametersFromSource, ServiceInstance
from catalogctl.model.names import (
    dns1123_label_error,
    dns1123_subdomain_error,
    env_var_name_error,
    parse_go_duration,
    secret_key_error,
)
from catalogctl.model.podmappings import PodMapping

_PEM_CERT = re.compile(
    r"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.DOTALL
)


def decode_ca_bundle(value: str) -> bytes | None:
    """Return PEM bytes for a ``caBundle`` (base64 of PEM as in Kubernetes, or raw PEM).

    None means it is not a PEM certificate bundle.
    """
    text = value.strip()
    if "-----BEGIN" not in text:
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
    certs = _PEM_CERT.findall(text)
    if not certs:
        return None
    pem = []
    for body in certs:
        # Strict base64 (ssl.PEM_cert_to_DER_cert skips what is not base64, so
        # "!!!!" would pass as an empty certificate), and the DER must be a SEQUENCE.
        b64 = "".join(body.split())
        try:
            der = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error):
            return None
        if len(der) < 2 or der[0] != 0x30:
            return None
        lines = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
        pem.append(f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n")
    # Only the certificates: comments around them (in any language) are dropped.
    return "".join(pem).encode("ascii")


def _check_metadata(res: LoadedResource) -> Iterator[Problem]:
    meta = res.obj.metadata
    if (err := dns1123_subdomain_error(meta.name)) is not None:
        yield res.problem(("metadata", "name"), f"invalid name {meta.name!r}: {err}")
    namespace = res.address.namespace
    if (
        not res.address.cluster_scoped
        and namespace
        and (err := dns1123_label_error(namespace)) is not None
    ):
        origin = "" if meta.namespace else " (from -n/--namespace)"
        yield res.problem(
            ("metadata", "namespace"), f"invalid namespace {namespace!r}{origin}: {err}"
        )


def _check_broker(res: LoadedResource, broker: Broker) -> Iterator[Problem]:
    spec = broker.spec
    if (url_error := _url_error(spec.url)) is not None:
        yield res.problem(("spec", "url"), f"invalid URL {spec.url!r}: {url_error}")
    if spec.ca_bundle is not None:
        if spec.insecure_skip_tls_verify:
            yield res.problem(
                ("spec", "caBundle"), "caBundle cannot be combined with insecureSkipTLSVerify"
            )
        if decode_ca_bundle(spec.ca_bundle) is None:
            yield res.problem(
                ("spec", "caBundle"),
                "caBundle is not a PEM certificate bundle (base64 of PEM or PEM text)",
            )
    if spec.relist_duration is not None:
        try:
            seconds = parse_go_duration(spec.relist_duration)
        except ValueError as exc:
            yield res.problem(("spec", "relistDuration"), str(exc))
        else:
            if seconds <= 0:
                yield res.problem(
                    ("spec", "relistDuration"), "relistDuration must be greater than zero"
                )
            if spec.relist_behavior == "Manual":
                yield res.problem(
                    ("spec", "relistDuration"),
                    "relistDuration must not be set when relistBehavior is Manual",
                )
    if spec.relist_requests < 0:
        yield res.problem(("spec", "relistRequests"), "relistRequests must not be negative")
    auth = spec.auth_info
    if auth is not None:
        set_ = [k for k in ("basic", "bearer") if getattr(auth, k) is not None]
        if not set_:
            yield res.problem(("spec", "authInfo"), "set one of basic or bearer")
        elif len(set_) > 1:
            yield res.problem(
                ("spec", "authInfo", "bearer"), "basic and bearer are both set; use exactly one"
            )
        for kind in set_:
            ref = getattr(auth, kind).secret_ref
            path = ("spec", "authInfo", kind, "secretRef")
            if broker.cluster_scoped and not ref.namespace:
                yield res.problem(
                    (*path, "namespace"), "a ClusterServiceBroker secretRef needs a namespace"
                )
            if (
                not broker.cluster_scoped
                and ref.namespace
                and ref.namespace != res.address.namespace
            ):
                yield res.problem(
                    (*path, "namespace"),
                    f"a ServiceBroker secretRef must be in the broker's namespace "
                    f"({res.address.namespace!r}); omit namespace",
                )
            yield from _check_secret_ref(res, path, ref.name, ref.namespace)


def _check_secret_ref(
    res: LoadedResource,
    path: tuple[str | int, ...],
    name: str,
    namespace: str | None = None,
    key: str | None = None,
) -> Iterator[Problem]:
    """The name rules a reference to a Secret must follow (namespace and key when given).

    The same rules the API server applies, so what passes here can be read
    from any cluster target, and no reference reaches outside a namespace.
    """
    if namespace is not None and (err := dns1123_label_error(namespace)) is not None:
        yield res.problem((*path, "namespace"), f"invalid namespace {namespace!r}: {err}")
    if (err := dns1123_subdomain_error(name)) is not None:
        yield res.problem((*path, "name"), f"invalid Secret name {name!r}: {err}")
    if key is not None and (err := secret_key_error(key)) is not None:
        yield res.problem((*path, "key"), f"invalid key {key!r}: {err}")


def _check_parameters_from(
    res: LoadedResource, sources: Sequence[ParametersFromSource]
) -> Iterator[Problem]:
    for i, source in enumerate(sources):
        ref = source.secret_key_ref
        path = ("spec", "parametersFrom", i)
        if ref is None:
            yield res.problem(path, "secretKeyRef is required")
        else:
            yield from _check_secret_ref(res, (*path, "secretKeyRef"), ref.name, key=ref.key)


def _url_error(value: str) -> str | None:
    """Why ``value`` is not a usable broker URL, or None."""
    try:
        url = urlsplit(value)
    except ValueError:  # "Invalid IPv6 URL": an unbalanced '[' or ']'
        return "unbalanced '[' or ']' in the host (an IPv6 host is written [fd00::1])"
    if "://" not in value:
        return "missing scheme (expected http:// or https://)"
    if url.scheme not in ("http", "https"):
        return f"unsupported scheme {url.scheme!r} (expected http or https)"
    if not url.hostname:
        return "missing host"
    try:
        port = url.port
    except ValueError:
        return "port must be a number from 1 to 65535"
    if port == 0:
        return "port must be a number from 1 to 65535"
    return None


def _missing_reference(target: Address, desired: Desired, verb: str = "references") -> str:
    """Say that ``target`` is absent, pointing out same-named objects elsewhere."""
    message = f"{verb} {target}, which is not in the input"
    elsewhere = sorted(
        str(a)
        for a in (*desired.resources, *desired.rejected)
        if a.kind == target.kind and a.name == target.name and a.namespace != target.namespace
    )
    if elsewhere:
        message += (
            f" ({' and '.join(elsewhere)} {'is' if len(elsewhere) == 1 else 'are'}: "
            "a reference only reaches its own namespace)"
        )
    return message


def _qualified_broker(value: str) -> tuple[str, str] | None:
    if "/" in value:
        broker, _, name = value.partition("/")
        return broker, name
    return None


def _check_instance(
    res: LoadedResource, inst: ServiceInstance, desired: Desired
) -> Iterator[Problem]:
    spec = inst.spec
    used = []
    for class_field, plan_field, scope, form in SELECTOR_FORMS:
        class_value, plan_value = spec.selector(class_field), spec.selector(plan_field)
        if class_value is None and plan_value is None:
            continue
        used.append((class_field, plan_field, scope, form))
        if class_value is None:
            yield res.problem(
                ("spec", plan_field),
                f"{plan_field} needs {class_field} (a plan is chosen within a class)",
            )
        for field_name, value in ((class_field, class_value), (plan_field, plan_value)):
            if value is not None and not value:
                yield res.problem(("spec", field_name), "must not be empty")
        if form == "external name" and class_value:
            qualified = _qualified_broker(class_value)
            if qualified is not None:
                broker_name, _ = qualified
                kind = "ClusterServiceBroker" if scope == "cluster" else "ServiceBroker"
                ns = "" if scope == "cluster" else res.address.namespace
                broker_addr = Address(kind, ns, broker_name)
                if not desired.declares(broker_addr):
                    yield res.problem(
                        ("spec", class_field),
                        _missing_reference(
                            broker_addr, desired, "names (before the '/') the broker"
                        ),
                    )
    if not used:
        yield res.problem(
            ("spec",),
            "no service class selected: set clusterServiceClassExternalName (or another "
            "class/plan selector pair)",
        )
    elif len(used) > 1:
        names = " and ".join(f"{u[0]}/{u[1]} ({u[2]} {u[3]})" for u in used)
        yield res.problem(
            ("spec", used[1][0]), f"two selector forms at once: {names}; use exactly one"
        )
    yield from _check_parameters_from(res, spec.parameters_from)
    if spec.external_id is not None and not spec.external_id.strip():
        yield res.problem(("spec", "externalID"), "must not be empty")
    if spec.update_requests < 0:
        yield res.problem(("spec", "updateRequests"), "updateRequests must not be negative")


def _check_binding(
    res: LoadedResource,
    binding: ServiceBinding,
    desired: Desired,
    secrets: dict[Address, LoadedResource],
) -> Iterator[Problem]:
    spec = binding.spec
    instance = Address("ServiceInstance", res.address.namespace, spec.instance_ref.name)
    if not desired.declares(instance):
        yield res.problem(("spec", "instanceRef", "name"), _missing_reference(instance, desired))
    secret_name = binding.effective_secret_name
    if spec.secret_name is not None and (err := dns1123_subdomain_error(spec.secret_name)):
        yield res.problem(
            ("spec", "secretName"), f"invalid Secret name {spec.secret_name!r}: {err}"
        )
    secret = Address("Secret", res.address.namespace, secret_name)
    other = secrets.get(secret)
    if other is not None:
        defaulted = "" if spec.secret_name else " (secretName defaults to the binding's name)"
        yield res.problem(
            ("spec", "secretName"),
            f"Secret {secret_name!r}{defaulted} is already written by {other.address} "
            f"({other.location}); each binding needs its own Secret",
        )
    else:
        secrets[secret] = res
    yield from _check_parameters_from(res, spec.parameters_from)
    for i, transform in enumerate(spec.secret_transforms):
        path = ("spec", "secretTransforms", i)
        members = [
            name
            for name, value in (
                ("renameKey", transform.rename_key),
                ("addKey", transform.add_key),
                ("addKeysFrom", transform.add_keys_from),
                ("removeKey", transform.remove_key),
            )
            if value is not None
        ]
        if not members:
            yield res.problem(path, "set one of renameKey, addKey, addKeysFrom or removeKey")
        elif len(members) > 1:
            yield res.problem(
                (*path, members[1]),
                f"{' and '.join(members)} are both set; each transform takes exactly one "
                "(use one list item per transform)",
            )
        if transform.add_key is not None:
            add = transform.add_key
            if add.value is None and add.string_value is None and add.json_path_expression is None:
                yield res.problem(
                    (*path, "addKey"), "set one of value, stringValue or jsonPathExpression"
                )
            if add.value is not None:
                try:
                    base64.b64decode(add.value, validate=True)
                except (binascii.Error, ValueError):
                    yield res.problem(
                        (*path, "addKey", "value"),
                        "value must be base64-encoded (use stringValue for plain text)",
                    )
            if (err := secret_key_error(add.key)) is not None:
                yield res.problem((*path, "addKey", "key"), f"invalid key {add.key!r}: {err}")
        if transform.add_keys_from is not None:
            ref = transform.add_keys_from.secret_ref
            yield from _check_secret_ref(
                res, (*path, "addKeysFrom", "secretRef"), ref.name, ref.namespace
            )
        if transform.rename_key is not None and (err := secret_key_error(transform.rename_key.to)):
            yield res.problem(
                (*path, "renameKey", "to"), f"invalid key {transform.rename_key.to!r}: {err}"
            )


def _check_mapping(res: LoadedResource, mapping: PodMapping, desired: Desired) -> Iterator[Problem]:
    spec = mapping.spec
    binding = Address("ServiceBinding", res.address.namespace, spec.binding_ref.name)
    if not desired.declares(binding):
        yield res.problem(("spec", "bindingRef", "name"), _missing_reference(binding, desired))
    if not spec.env and spec.env_from is None and spec.volume is None:
        yield res.problem(("spec",), "nothing to map: set at least one of env, envFrom or volume")
    if (err := dns1123_subdomain_error(spec.target.name)) is not None:
        yield res.problem(("spec", "target", "name"), f"invalid name {spec.target.name!r}: {err}")
    seen: dict[str, int] = {}
    for i, env in enumerate(spec.env):
        path = ("spec", "env", i)
        if (err := env_var_name_error(env.name)) is not None:
            yield res.problem((*path, "name"), f"invalid env var name {env.name!r}: {err}")
        if env.name in seen:
            yield res.problem(
                (*path, "name"),
                f"env var {env.name!r} is mapped twice (also env[{seen[env.name]}])",
            )
        seen.setdefault(env.name, i)
        if env.key is not None and env.value is not None:
            yield res.problem(
                (*path, "value"), "key and value are both set; use key (a Secret key) or value"
            )
        elif env.key is None and env.value is None:
            yield res.problem(
                path, "set key (a key of the binding's Secret) or value (a literal value)"
            )
        if env.value is not None and env.optional is not None:
            yield res.problem(
                (*path, "optional"),
                "optional applies only to key (a literal value is never missing)",
            )
    if (
        spec.env_from is not None
        and spec.env_from.prefix
        and (err := env_var_name_error(spec.env_from.prefix)) is not None
    ):
        yield res.problem(
            ("spec", "envFrom", "prefix"), f"invalid prefix {spec.env_from.prefix!r}: {err}"
        )
    vol = spec.volume
    if vol is not None:
        if not vol.mount_path.startswith("/"):
            yield res.problem(("spec", "volume", "mountPath"), "mountPath must be an absolute path")
        if vol.name is not None and (err := dns1123_label_error(vol.name)):
            yield res.problem(
                ("spec", "volume", "name"), f"invalid volume name {vol.name!r}: {err}"
            )
        for j, item in enumerate(vol.items or []):
            if item.path.startswith("/") or ".." in item.path.split("/"):
                yield res.problem(
                    ("spec", "volume", "items", j, "path"),
                    "path must be relative and must not contain '..'",
                )
    if spec.target.containers is not None and not spec.target.containers:
        yield res.problem(
            ("spec", "target", "containers"), "must not be empty (omit it for all containers)"
        )


def _check_mapping_conflicts(desired: Desired) -> Iterator[Problem]:
    """Two mappings must not claim the same env var or mount path in one container.

    A mapping without ``target.containers`` applies to every container, so it
    overlaps any other mapping of the same workload.
    """
    claimed: dict[tuple[str, str, str, str], list[tuple[LoadedResource, frozenset[str] | None]]]
    claimed = {}
    for res, mapping in desired.of_type(PodMapping):
        target = mapping.spec.target
        workload = f"{target.kind}/{res.address.namespace}/{target.name}"
        containers = frozenset(target.containers) if target.containers is not None else None
        claims: list[tuple[tuple[str | int, ...], str]] = [
            (("spec", "env", i, "name"), f"env var {e.name!r}")
            for i, e in enumerate(mapping.spec.env)
        ]
        if mapping.spec.volume is not None:
            claims.append(
                (("spec", "volume", "mountPath"), f"mountPath {mapping.spec.volume.mount_path!r}")
            )
        for path, claim in claims:
            key = (res.address.namespace, target.kind, target.name, claim)
            holders = claimed.setdefault(key, [])
            for other, other_containers in holders:
                if other is res:
                    continue
                if containers is None or other_containers is None or containers & other_containers:
                    yield res.problem(
                        path,
                        f"{claim} in {workload} is also set by {other.address} ({other.location})",
                    )
                    break
            holders.append((res, containers))


def validate_desired(desired: Desired) -> list[Problem]:
    """Run every semantic check and return the problems found."""
    problems: list[Problem] = []
    secrets: dict[Address, LoadedResource] = {}
    for res in desired.resources.values():
        problems.extend(_check_metadata(res))
        obj = res.obj
        if isinstance(obj, Broker):
            problems.extend(_check_broker(res, obj))
        elif isinstance(obj, ServiceInstance):
            problems.extend(_check_instance(res, obj, desired))
        elif isinstance(obj, ServiceBinding):
            problems.extend(_check_binding(res, obj, desired, secrets))
        else:
            problems.extend(_check_mapping(res, obj, desired))
    problems.extend(_check_mapping_conflicts(desired))
    return problems
