"""``catalogctl catalog``: classes, plans and describe against real brokers over HTTP.

The openbrokerapi broker is a third-party implementation with a fixed catalog
(see tests/brokers/obapi.py); the programmable broker serves scripted catalogs,
401s and malformed bodies, and records every request so cache behaviour can be
checked by counting ``GET /v2/catalog``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.brokers.obapi import (
    DB_SMALL_CREATE_SCHEMA,
    DB_SMALL_UPDATE_SCHEMA,
    QUEUE_BIND_SCHEMA,
    ObapiBroker,
)
from tests.brokers.programmable import ProgrammableBroker
from tests.cli import CliResult, run_cli

ENV_USER = "CATALOGCTL_SECRET_CATALOGCTL_SYSTEM_CLOUD_AUTH_USERNAME"
ENV_PASSWORD = "CATALOGCTL_SECRET_CATALOGCTL_SYSTEM_CLOUD_AUTH_PASSWORD"
CLOUD = "ClusterServiceBroker/cloud"

# An unreachable broker is retried with backoff (about 30 s of waiting at the default
# delays) before the command reports it; the waits advance an injected clock instead.
pytestmark = pytest.mark.usefixtures("skipped_retry_backoff")


def broker_yaml(
    url: str,
    *,
    name: str = "cloud",
    auth: bool = True,
    restrictions: dict[str, list[str]] | None = None,
    namespace: str | None = None,
    relist_duration: str | None = None,
) -> dict[str, Any]:
    """A broker document; cluster-scoped unless ``namespace`` is given."""
    spec: dict[str, Any] = {"url": url}
    if auth:
        spec["authInfo"] = {
            "basic": {"secretRef": {"namespace": "catalogctl-system", "name": "cloud-auth"}}
        }
    if restrictions:
        spec["catalogRestrictions"] = restrictions
    if relist_duration:
        spec["relistDuration"] = relist_duration
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "servicecatalog.k8s.io/v1beta1",
        "kind": "ServiceBroker" if namespace else "ClusterServiceBroker",
        "metadata": metadata,
        "spec": spec,
    }


def write_yaml(tmp_path: Path, *docs: dict[str, Any]) -> str:
    path = tmp_path / "brokers.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return str(path)


@pytest.fixture
def obapi_env(obapi_broker: ObapiBroker, monkeypatch: pytest.MonkeyPatch) -> ObapiBroker:
    """The obapi broker's basic-auth credentials in the environment Secret source."""
    monkeypatch.setenv(ENV_USER, obapi_broker.username)
    monkeypatch.setenv(ENV_PASSWORD, obapi_broker.password)
    return obapi_broker


def catalog(tmp_path: Path, filename: str, *args: str) -> CliResult:
    """``catalogctl catalog ARGS -f FILE --state TMP/state``."""
    return run_cli("catalog", *args, "-f", filename, "--state", str(tmp_path / "state"))


def catalog_gets(broker: ProgrammableBroker) -> int:
    return len(broker.requests_to("GET", r"^/v2/catalog$"))


# --------------------------------------------------------------------------- classes


def test_classes_table(obapi_env: ObapiBroker, tmp_path: Path) -> None:
    result = catalog(tmp_path, write_yaml(tmp_path, broker_yaml(obapi_env.url)), "classes")
    assert result.exit_code == 0, result.stderr
    b = "ClusterServiceBroker/cloud  "
    assert result.stdout.splitlines() == [
        "SERVICE NAME          EXTERNAL NAME  BROKER                      DESCRIPTION",
        f"6d0e4a2c-obapi-db     obapi-db       {b}A synchronous test database",
        f"9b7f1e55-obapi-queue  obapi-queue    {b}An asynchronous test queue",
    ]
    assert result.stderr == ""


def test_classes_json_and_yaml(obapi_env: ObapiBroker, tmp_path: Path) -> None:
    filename = write_yaml(tmp_path, broker_yaml(obapi_env.url))
    result = catalog(tmp_path, filename, "classes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert result.stdout.startswith('[\n  {\n    "name": "6d0e4a2c-obapi-db",\n')  # 2-space indent
    assert [c["external_name"] for c in data] == ["obapi-db", "obapi-queue"]
    db = data[0]
    assert db == {
        "name": "6d0e4a2c-obapi-db",
        "external_name": "obapi-db",
        "external_id": "6d0e4a2c-obapi-db",
        "broker": CLOUD,
        "description": "A synchronous test database",
        "bindable": True,
        "plan_updateable": True,
        "instances_retrievable": True,
        "bindings_retrievable": True,
        "allow_context_updates": False,
        "tags": ["sql", "test"],
        "requires": [],
        "plans": ["small", "large"],
        "metadata": db["metadata"],
    }
    as_yaml = catalog(tmp_path, filename, "classes", "-o", "yaml")
    assert as_yaml.exit_code == 0, as_yaml.stderr
    assert yaml.safe_load(as_yaml.stdout) == data


# --------------------------------------------------------------------------- plans


PLAN_HEADER = (
    "PLAN NAME                      EXTERNAL NAME  CLASS        BROKER                      "
    "FREE   BINDABLE  UPDATEABLE  DESCRIPTION"
)


def test_plans_table_shows_effective_flags(obapi_env: ObapiBroker, tmp_path: Path) -> None:
    result = catalog(tmp_path, write_yaml(tmp_path, broker_yaml(obapi_env.url)), "plans")
    assert result.exit_code == 0, result.stderr
    b = "ClusterServiceBroker/cloud  "
    # premium overrides its class's plan_updateable=false; nobind overrides bindable;
    # nobind has no "free" field, which OSB reads as free.
    assert result.stdout.splitlines() == [
        PLAN_HEADER,
        f"6d0e4a2c-obapi-db-small        small          obapi-db     {b}true   true      true"
        "        Small database",
        f"6d0e4a2c-obapi-db-large        large          obapi-db     {b}false  true      true"
        "        Large database",
        f"9b7f1e55-obapi-queue-standard  standard       obapi-queue  {b}true   true      false"
        "       Standard queue",
        f"9b7f1e55-obapi-queue-premium   premium        obapi-queue  {b}false  true      true"
        "        Premium queue",
        f"9b7f1e55-obapi-queue-nobind    nobind         obapi-queue  {b}true   false     false"
        "       Unbindable queue",
    ]


@pytest.mark.parametrize(
    "selector",
    ["obapi-queue", "9b7f1e55-obapi-queue", "cloud/obapi-queue", f"{CLOUD}/obapi-queue"],
)
def test_plans_of_one_class(obapi_env: ObapiBroker, tmp_path: Path, selector: str) -> None:
    filename = write_yaml(tmp_path, broker_yaml(obapi_env.url))
    result = catalog(tmp_path, filename, "plans", selector, "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [(p["class_external_name"], p["external_name"]) for p in data] == [
        ("obapi-queue", "standard"),
        ("obapi-queue", "premium"),
        ("obapi-queue", "nobind"),
    ]
    standard = data[0]
    assert standard["schemas"] == {
        "instance_create": standard["schemas"]["instance_create"],
        "instance_update": None,
        "binding_create": QUEUE_BIND_SCHEMA,
    }
    assert standard["schemas"]["instance_create"]["required"] == ["topic"]
    # Effective values: premium overrides plan_updateable, nobind overrides bindable.
    assert [(p["free"], p["bindable"], p["plan_updateable"]) for p in data] == [
        (True, True, False),
        (False, True, True),
        (True, False, False),
    ]


def test_plans_unknown_class_lists_the_classes(obapi_env: ObapiBroker, tmp_path: Path) -> None:
    filename = write_yaml(tmp_path, broker_yaml(obapi_env.url))
    result = catalog(tmp_path, filename, "plans", "nosuch")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: no service class 'nosuch'; classes: ClusterServiceBroker/cloud/obapi-db, "
        "ClusterServiceBroker/cloud/obapi-queue\n"
    )


# --------------------------------------------------------------------------- describe


def test_describe_shows_plan_and_schemas(obapi_env: ObapiBroker, tmp_path: Path) -> None:
    filename = write_yaml(tmp_path, broker_yaml(obapi_env.url))
    result = catalog(tmp_path, filename, "describe", "obapi-db/small")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    head = text.split("\n\n")[0].splitlines()
    assert head == [
        "Name:                     6d0e4a2c-obapi-db-small",
        "External Name:            small",
        "External ID:              6d0e4a2c-obapi-db-small",
        "Description:              Small database",
        "Class:                    6d0e4a2c-obapi-db (obapi-db)",
        "Broker:                   ClusterServiceBroker/cloud",
        "Free:                     true",
        "Bindable:                 true",
        "Updateable:               true",
        "Binding Rotatable:        false",
        "Maintenance Info:         -",
        "Maximum Polling Duration: -",
    ]
    blocks = text.rstrip("\n").split("\n\n")[1:]
    assert [b.splitlines()[0] for b in blocks] == [
        "Instance Create Parameter Schema:",
        "Instance Update Parameter Schema:",
        "Binding Create Parameter Schema: none",
    ]
    for block, expected in zip(
        blocks[:2], (DB_SMALL_CREATE_SCHEMA, DB_SMALL_UPDATE_SCHEMA), strict=True
    ):
        body = block.split("\n", 1)[1]
        parsed = json.loads(body)
        assert parsed == expected
        # Pretty-printed with a 2-space indent, the whole block indented by two more
        # (key order is the broker's, so the expected text is rebuilt from what it sent).
        pretty = json.dumps(parsed, indent=2).splitlines()
        assert body == "\n".join("  " + line for line in pretty)


def test_describe_maintenance_info_and_polling(obapi_env: ObapiBroker, tmp_path: Path) -> None:
    filename = write_yaml(tmp_path, broker_yaml(obapi_env.url))
    result = catalog(tmp_path, filename, "describe", "cloud/obapi-db/large")
    assert result.exit_code == 0, result.stderr
    assert "Free:                     false\n" in result.stdout
    assert "Maintenance Info:         2.1.0 (PostgreSQL 16.2)\n" in result.stdout
    assert "Maximum Polling Duration: 600s\n" in result.stdout
    assert "Instance Create Parameter Schema: none\n" in result.stdout

    as_json = catalog(tmp_path, filename, "describe", "6d0e4a2c-obapi-db/large", "-o", "json")
    assert as_json.exit_code == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["maintenance_info"] == {"version": "2.1.0", "description": "PostgreSQL 16.2"}
    assert data["maximum_polling_duration"] == 600
    assert data["external_id"] == "6d0e4a2c-obapi-db-large"
    assert data["schemas"] == {
        "instance_create": None,
        "instance_update": None,
        "binding_create": None,
    }


def test_describe_yaml_holds_the_schema(obapi_env: ObapiBroker, tmp_path: Path) -> None:
    filename = write_yaml(tmp_path, broker_yaml(obapi_env.url))
    result = catalog(tmp_path, filename, "describe", "obapi-db/small", "-o", "yaml")
    assert result.exit_code == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert data["schemas"]["instance_create"] == DB_SMALL_CREATE_SCHEMA
    assert data["schemas"]["instance_update"] == DB_SMALL_UPDATE_SCHEMA


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("obapi-db",
         "Error: 'obapi-db': expected CLASS/PLAN (see `catalogctl catalog plans CLASS`)"),
        ("obapi-db/huge", "Error: no plan 'huge' in class 'obapi-db'; plans: obapi-db/large, "
                          "obapi-db/small"),
        ("nosuch/small", "Error: no service class 'nosuch'; list them with "
                         "`catalogctl catalog classes`"),
    ],
)
def test_describe_errors(
    obapi_env: ObapiBroker, tmp_path: Path, argument: str, message: str
) -> None:
    filename = write_yaml(tmp_path, broker_yaml(obapi_env.url))
    result = catalog(tmp_path, filename, "describe", argument)
    assert result.exit_code == 1
    assert result.stderr_lines == [message]
    assert result.stdout == ""


def test_describe_ambiguous_across_brokers(
    programmable_broker: ProgrammableBroker, tmp_path: Path
) -> None:
    # Two brokers on one URL publish the same offering: the argument must say which.
    filename = write_yaml(
        tmp_path,
        broker_yaml(programmable_broker.url, name="one", auth=False),
        broker_yaml(programmable_broker.url, name="two", auth=False),
    )
    result = catalog(tmp_path, filename, "describe", "programmable-db/sync")
    assert result.exit_code == 1
    assert result.stderr_lines == [
        "Error: 'programmable-db/sync' matches 2 plans; qualify it with the broker: one of "
        "ClusterServiceBroker/one/programmable-db/sync, "
        "ClusterServiceBroker/two/programmable-db/sync"
    ]
    qualified = catalog(tmp_path, filename, "describe", "two/programmable-db/sync")
    assert qualified.exit_code == 0, qualified.stderr
    assert "Broker:                   ClusterServiceBroker/two\n" in qualified.stdout


# --------------------------------------------------------------------------- restrictions


def test_catalog_restrictions_filter_classes_and_plans(
    obapi_env: ObapiBroker, tmp_path: Path
) -> None:
    restrictions = {
        "serviceClass": ["spec.externalName in (obapi-db, obapi-queue)"],
        "servicePlan": ["spec.free==true", "spec.externalName!=standard"],
    }
    filename = write_yaml(tmp_path, broker_yaml(obapi_env.url, restrictions=restrictions))
    plans = catalog(tmp_path, filename, "plans", "-o", "json")
    assert plans.exit_code == 0, plans.stderr
    # A plan without "free" (nobind) is free, as OSB says, for restrictions too.
    assert [(p["class_external_name"], p["external_name"]) for p in json.loads(plans.stdout)] == [
        ("obapi-db", "small"),
        ("obapi-queue", "nobind"),
    ]
    classes = catalog(tmp_path, filename, "classes")
    assert classes.exit_code == 0, classes.stderr
    assert [line.split()[1] for line in classes.stdout.splitlines()[1:]] == [
        "obapi-db",
        "obapi-queue",
    ]
    hidden = catalog(tmp_path, filename, "describe", "obapi-db/large")
    assert hidden.exit_code == 1
    assert hidden.stderr_lines == [
        "Error: no plan 'large' in class 'obapi-db'; plans: obapi-db/small"
    ]


# --------------------------------------------------------------------------- --broker-url


def test_broker_url_with_basic_auth_from_env(
    obapi_broker: ObapiBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_BROKER_PASSWORD", obapi_broker.password)
    monkeypatch.chdir(tmp_path)
    result = run_cli(
        "catalog", "classes",
        "--broker-url", obapi_broker.url,
        "--broker-username", obapi_broker.username,
        "--broker-password-env", "MY_BROKER_PASSWORD",
    )
    assert result.exit_code == 0, result.stderr
    url = obapi_broker.url
    pad = " " * len(url)
    assert result.stdout.splitlines() == [
        f"SERVICE NAME          EXTERNAL NAME  BROKER{pad[6:]}  DESCRIPTION",
        f"6d0e4a2c-obapi-db     obapi-db       {url}  A synchronous test database",
        f"9b7f1e55-obapi-queue  obapi-queue    {url}  An asynchronous test queue",
    ]
    assert obapi_broker.password not in result.stdout + result.stderr
    # Ad-hoc browsing keeps no cache and needs no state directory.
    assert list(tmp_path.iterdir()) == []


def test_broker_url_sends_api_version_and_bearer_token(
    programmable_broker: ProgrammableBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN_VAR", "tok-3f9a-secret")
    result = run_cli(
        "catalog", "plans", "-o", "json",
        "--broker-url", programmable_broker.url,
        "--broker-token-env", "TOKEN_VAR",
        "--broker-api-version", "2.14",
    )
    assert result.exit_code == 0, result.stderr
    assert [p["external_name"] for p in json.loads(result.stdout)] == ["sync", "async", "large"]
    (request,) = programmable_broker.requests_to("GET", r"^/v2/catalog$")
    assert request.headers["authorization"] == "Bearer tok-3f9a-secret"
    assert request.headers["x-broker-api-version"] == "2.14"
    assert "tok-3f9a-secret" not in result.stdout + result.stderr


def test_broker_url_401_names_the_failure_never_the_password(
    obapi_broker: ObapiBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRONG_PASSWORD", "wrong-pw-7c1d2e")
    result = run_cli(
        "catalog", "classes",
        "--broker-url", obapi_broker.url,
        "--broker-username", obapi_broker.username,
        "--broker-password-env", "WRONG_PASSWORD",
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr_lines
    assert line.startswith(
        f"Error: {obapi_broker.url}: GET /v2/catalog failed: broker answered 401: "
        "authentication failed"
    )
    assert "Traceback" not in result.stderr
    assert "wrong-pw-7c1d2e" not in result.stdout + result.stderr


# --------------------------------------------------------------------------- errors


def test_yaml_broker_401_exit_1_password_absent(
    programmable_broker: ProgrammableBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_USER, "admin")
    monkeypatch.setenv(ENV_PASSWORD, "hunter2-b8c7")
    programmable_broker.script(
        "GET", r"^/v2/catalog$", status=401, body={"description": "bad credentials"}
    )
    filename = write_yaml(tmp_path, broker_yaml(programmable_broker.url))
    result = catalog(tmp_path, filename, "plans")
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr_lines
    assert line.startswith(
        f"Error: {CLOUD}: GET /v2/catalog failed: broker answered 401: authentication failed: "
        "bad credentials"
    )
    assert "hunter2-b8c7" not in result.stdout + result.stderr
    (request,) = programmable_broker.requests_to("GET", r"^/v2/catalog$")
    assert request.headers["authorization"].startswith("Basic ")  # credentials were sent


def test_unreachable_broker(tmp_path: Path) -> None:
    filename = write_yaml(tmp_path, broker_yaml("http://127.0.0.1:1", auth=False))
    result = catalog(tmp_path, filename, "classes")
    assert result.exit_code == 1
    (line,) = result.stderr_lines
    assert line.startswith(f"Error: {CLOUD}: GET /v2/catalog failed: broker unreachable: ")


def test_unusable_catalog(programmable_broker: ProgrammableBroker, tmp_path: Path) -> None:
    programmable_broker.script(
        "GET", r"^/v2/catalog$", body={"services": [{"name": "no-id", "plans": []}]}
    )
    filename = write_yaml(tmp_path, broker_yaml(programmable_broker.url, auth=False))
    result = catalog(tmp_path, filename, "classes")
    assert result.exit_code == 1
    assert result.stderr_lines[0] == f"Error: broker '{CLOUD}' returned an unusable catalog:"
    assert "  - services[0] ('no-id'): required field 'id' is missing" in result.stderr_lines


def test_one_broker_down_others_still_listed(
    obapi_env: ObapiBroker, tmp_path: Path
) -> None:
    filename = write_yaml(
        tmp_path,
        broker_yaml(obapi_env.url),
        broker_yaml("http://127.0.0.1:1", name="down", auth=False),
    )
    result = catalog(tmp_path, filename, "classes")
    assert result.exit_code == 1
    assert [line.split()[2] for line in result.stdout.splitlines()[1:]] == [CLOUD, CLOUD]
    (line,) = result.stderr_lines
    assert line.startswith("Error: ClusterServiceBroker/down: GET /v2/catalog failed: ")


def test_missing_secret_without_cluster_names_the_variable(
    obapi_broker: ObapiBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in (
        ENV_USER, ENV_PASSWORD, "KUBECONFIG", "CATALOGCTL_CLUSTER_DIR", "KUBERNETES_SERVICE_HOST"
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    filename = write_yaml(tmp_path, broker_yaml(obapi_broker.url))
    result = catalog(tmp_path, filename, "classes")
    assert result.exit_code == 1
    (line,) = result.stderr_lines
    assert line.startswith(f"Error: {CLOUD}: Secret catalogctl-system/cloud-auth key 'username'")
    assert ENV_USER in line
    assert "no cluster configured" in line


def test_secrets_dir_provides_broker_auth(obapi_broker: ObapiBroker, tmp_path: Path) -> None:
    secret = tmp_path / "secrets" / "catalogctl-system" / "cloud-auth"
    secret.mkdir(parents=True)
    (secret / "username").write_text(obapi_broker.username)
    (secret / "password").write_text(obapi_broker.password)
    filename = write_yaml(tmp_path, broker_yaml(obapi_broker.url))
    result = catalog(tmp_path, filename, "classes", "--secrets-dir", str(tmp_path / "secrets"))
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3


def test_cluster_dir_is_the_last_secret_source(
    obapi_broker: ObapiBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not in the environment, so the Secret is read from the cluster (a cluster directory).
    monkeypatch.delenv(ENV_USER, raising=False)
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    secret_dir = tmp_path / "cluster" / "catalogctl-system" / "secret"
    secret_dir.mkdir(parents=True)
    (secret_dir / "cloud-auth.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"namespace": "catalogctl-system", "name": "cloud-auth"},
                "stringData": {
                    "username": obapi_broker.username,
                    "password": obapi_broker.password,
                },
            }
        )
    )
    filename = write_yaml(tmp_path, broker_yaml(obapi_broker.url))
    result = catalog(tmp_path, filename, "classes", "--cluster-dir", str(tmp_path / "cluster"))
    assert result.exit_code == 0, result.stderr
    assert [line.split()[1] for line in result.stdout.splitlines()[1:]] == [
        "obapi-db", "obapi-queue"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Error: give -f/--filename (brokers declared in YAML) or --broker-url URL"),
        (("--broker-url", "http://127.0.0.1:1", "-f", "x.yaml"),
         "Error: give either -f/--filename or --broker-url, not both"),
        (("--broker-url", "http://127.0.0.1:1", "--broker-username", "u"),
         "Error: --broker-username and --broker-password-env must be given together"),
        (("--broker-url", "http://127.0.0.1:1", "--broker-username", "u",
          "--broker-password-env", "CATALOGCTL_TEST_UNSET_VAR"),
         "Error: environment variable CATALOGCTL_TEST_UNSET_VAR is not set"),
        (("--broker-url", "http://u:pw-in-url@127.0.0.1:1"),
         "Error: --broker-url must not contain credentials; use --broker-username with "
         "--broker-password-env, or --broker-token-env"),
    ],
)
def test_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = run_cli("catalog", "classes", *args)
    assert result.exit_code == 1
    assert result.stderr_lines == [message]
    assert "pw-in-url" not in result.stderr


def test_password_flag_does_not_exist() -> None:
    result = run_cli("catalog", "classes", "--broker-password", "x")
    assert result.exit_code == 1  # usage errors exit 1: 2 means "changes present"
    assert "No such option '--broker-password'" in result.stderr


# --------------------------------------------------------------------------- cache


def test_cache_reused_then_refresh_fetches_and_stores(
    programmable_broker: ProgrammableBroker, tmp_path: Path
) -> None:
    filename = write_yaml(tmp_path, broker_yaml(programmable_broker.url, auth=False))
    first = catalog(tmp_path, filename, "plans", "-o", "json")
    assert first.exit_code == 0, first.stderr
    assert catalog_gets(programmable_broker) == 1

    # The broker adds a plan; within relistDuration the cached catalog is shown.
    programmable_broker.catalog["services"][0]["plans"].append(
        {"id": "prog-plan-new", "name": "new", "description": "added later"}
    )
    cached = catalog(tmp_path, filename, "plans", "-o", "json")
    assert [p["external_name"] for p in json.loads(cached.stdout)] == ["sync", "async", "large"]
    assert catalog_gets(programmable_broker) == 1

    fresh = catalog(tmp_path, filename, "plans", "--refresh", "-o", "json")
    assert fresh.exit_code == 0, fresh.stderr
    names = ["sync", "async", "large", "new"]
    assert [p["external_name"] for p in json.loads(fresh.stdout)] == names
    assert catalog_gets(programmable_broker) == 2

    # The refreshed copy replaced the cached one: plan (and this) now see "new".
    again = catalog(tmp_path, filename, "plans", "-o", "json")
    assert [p["external_name"] for p in json.loads(again.stdout)] == names
    assert catalog_gets(programmable_broker) == 2


# --------------------------------------------------------------------------- scope, format


def test_namespaced_broker_and_broker_filter(
    programmable_broker: ProgrammableBroker, obapi_env: ObapiBroker, tmp_path: Path
) -> None:
    filename = write_yaml(
        tmp_path,
        broker_yaml(obapi_env.url),
        broker_yaml(programmable_broker.url, name="team", auth=False, namespace="team-a"),
    )
    every = catalog(tmp_path, filename, "classes")
    assert every.exit_code == 0, every.stderr
    assert [line.split()[2] for line in every.stdout.splitlines()[1:]] == [
        CLOUD, CLOUD, "ServiceBroker/team-a/team"
    ]
    only = catalog(tmp_path, filename, "classes", "-b", "team")
    assert only.exit_code == 0, only.stderr
    assert only.stdout.splitlines() == [
        "SERVICE NAME  EXTERNAL NAME    BROKER                     DESCRIPTION",
        "prog-svc-1    programmable-db  ServiceBroker/team-a/team  In-memory database used by "
        "catalogctl tests",
    ]
    unknown = catalog(tmp_path, filename, "classes", "-b", "nope")
    assert unknown.exit_code == 1
    assert unknown.stderr_lines == [
        "Error: --broker 'nope': no such broker (brokers: ClusterServiceBroker/cloud, "
        "ServiceBroker/team-a/team)"
    ]


def test_k8s_names_escape_and_descriptions_stay_on_one_line(
    programmable_broker: ProgrammableBroker, tmp_path: Path
) -> None:
    programmable_broker.catalog = {
        "services": [
            {
                "id": "Svc_ID.1",
                "name": "odd",
                "description": "first line\nsecond\tline",
                "bindable": False,
                "plans": [{"id": "Plan-Z", "name": "only", "description": "x", "free": False}],
            }
        ]
    }
    filename = write_yaml(tmp_path, broker_yaml(programmable_broker.url, auth=False))
    classes = catalog(tmp_path, filename, "classes")
    assert classes.exit_code == 0, classes.stderr
    # Upper case and "_" are escaped as Service Catalog's GenerateEscapedName did.
    assert classes.stdout.splitlines() == [
        "SERVICE NAME          EXTERNAL NAME  BROKER                      DESCRIPTION",
        "z53zvcz5fzz49zz44z.1  odd            ClusterServiceBroker/cloud  first line second line",
    ]
    described = catalog(tmp_path, filename, "describe", "odd/only")
    assert "Name:                     z50zlan-z5az\n" in described.stdout
    assert "Bindable:                 false\n" in described.stdout


def test_no_trailing_blanks_and_empty_listing(
    programmable_broker: ProgrammableBroker, tmp_path: Path
) -> None:
    programmable_broker.catalog = {"services": []}
    filename = write_yaml(tmp_path, broker_yaml(programmable_broker.url, auth=False))
    table = catalog(tmp_path, filename, "plans")
    assert table.exit_code == 0
    assert table.stdout == ""
    assert table.stderr == "No service plans found.\n"
    as_json = catalog(tmp_path, filename, "classes", "-o", "json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == []


def test_help_lists_subcommands() -> None:
    result = run_cli("catalog", "--help")
    assert result.exit_code == 0
    for name in ("classes", "plans", "describe"):
        assert name in result.stdout
    top = run_cli("--help")
    assert "catalog   " in top.stdout or "catalog  " in top.stdout
    assert "Browse broker catalogs: classes, plans and their schemas." in top.stdout


def test_the_state_directory_the_cache_creates_is_private(
    obapi_env: ObapiBroker, tmp_path: Path
) -> None:
    result = catalog(tmp_path, write_yaml(tmp_path, broker_yaml(obapi_env.url)), "classes")
    assert result.exit_code == 0, result.stderr
    for directory in (tmp_path / "state", tmp_path / "state" / "catalog-cache"):
        assert directory.stat().st_mode & 0o777 == 0o700, directory
