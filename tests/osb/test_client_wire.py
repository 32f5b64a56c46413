"""What goes on the wire: URLs, query strings and bodies (osb-platform-rules §0, §1, §7)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from catalogctl.providers.osb.client import OSBClient
from catalogctl.providers.osb.identity import binding_context, instance_context, platform_guids
from catalogctl.providers.osb.outcomes import Accepted, Done, Malformed
from tests.brokers.programmable import (
    ASYNC_PLAN_ID,
    LARGE_PLAN_ID,
    SERVICE_ID,
    SYNC_PLAN_ID,
    ProgrammableBroker,
)
from tests.osb.conftest import CLUSTER_ID, make_conn, provision_kwargs

pytestmark = pytest.mark.asyncio

ODD_ID = "a/b c?d#e%f&g=h+ü"
ODD_OP = "op/1 2?x=y&z=%41+é"


async def test_ids_and_operation_are_percent_encoded(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    await client.last_operation(ODD_ID, SERVICE_ID, SYNC_PLAN_ID, ODD_OP)
    await client.last_operation(ODD_ID, SERVICE_ID, SYNC_PLAN_ID, ODD_OP, binding_id=ODD_ID)
    await client.delete(ODD_ID, SERVICE_ID, SYNC_PLAN_ID)
    enc_id = quote(ODD_ID, safe="")
    enc_op = quote(ODD_OP, safe="")
    r1, r2, r3 = broker.requests
    assert r1.path == f"/v2/service_instances/{enc_id}/last_operation"
    assert f"operation={enc_op}" in r1.raw_query.split("&")
    assert r1.query["operation"] == ODD_OP, "the broker decodes the very same string"
    assert r2.path == f"/v2/service_instances/{enc_id}/service_bindings/{enc_id}/last_operation"
    assert r2.query["operation"] == ODD_OP
    assert r3.path == f"/v2/service_instances/{enc_id}"


async def test_id_with_slash_round_trips_through_a_real_broker(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    kw = provision_kwargs(client.conn)
    assert isinstance(await client.provision(ODD_ID, SERVICE_ID, SYNC_PLAN_ID, **kw), Done)
    assert ODD_ID in broker.instances
    got = await client.get(ODD_ID, SERVICE_ID, SYNC_PLAN_ID)
    assert isinstance(got, Done) and got.body["plan_id"] == SYNC_PLAN_ID


async def test_missing_operation_is_omitted_from_the_poll_query(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    await client.last_operation("i1", SERVICE_ID, SYNC_PLAN_ID, None)
    q = broker.requests[0].query
    assert "operation" not in q
    assert q == {"service_id": SERVICE_ID, "plan_id": SYNC_PLAN_ID}


async def test_accepts_incomplete_true_on_put_patch_delete(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    kw = provision_kwargs(client.conn)
    ctx = binding_context(client.conn, namespace="dev")
    await client.provision("i1", SERVICE_ID, SYNC_PLAN_ID, **kw)
    await client.update(
        "i1", SERVICE_ID, previous_values={"plan_id": SYNC_PLAN_ID}, context=kw["context"]
    )
    await client.bind("i1", "b1", SERVICE_ID, SYNC_PLAN_ID, context=ctx)
    await client.delete("i1", SERVICE_ID, SYNC_PLAN_ID, binding_id="b1")
    await client.delete("i1", SERVICE_ID, SYNC_PLAN_ID)
    await client.get("i1", SERVICE_ID, SYNC_PLAN_ID)
    for r in broker.requests:
        if r.method in ("PUT", "PATCH", "DELETE"):
            assert r.query.get("accepts_incomplete") == "true", r.method
        else:
            assert "accepts_incomplete" not in r.query


async def test_async_only_broker_never_answers_async_required(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    kw = provision_kwargs(client.conn)
    outcome = await client.provision("i1", SERVICE_ID, ASYNC_PLAN_ID, **kw)
    assert isinstance(outcome, Accepted) and outcome.operation
    assert outcome.dashboard_url == "http://127.0.0.1/dashboard/i1"


async def test_provision_body_carries_required_fields_and_kubernetes_context(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    conn = client.conn
    guids = platform_guids(conn, namespace="dev", namespace_uid="ns-uid-1")
    await client.provision(
        "i1",
        SERVICE_ID,
        SYNC_PLAN_ID,
        context=instance_context(conn, namespace="dev", instance_name="my-db"),
        organization_guid=guids.organization_guid,
        space_guid=guids.space_guid,
        parameters={"size": 3},
        maintenance_info={"version": "1.2.3"},
    )
    body = broker.requests[0].body
    assert body == {
        "service_id": SERVICE_ID,
        "plan_id": SYNC_PLAN_ID,
        "organization_guid": CLUSTER_ID,
        "space_guid": "ns-uid-1",
        "context": {
            "platform": "kubernetes",
            "namespace": "dev",
            "clusterid": CLUSTER_ID,
            "instance_name": "my-db",
        },
        "parameters": {"size": 3},
        "maintenance_info": {"version": "1.2.3"},
    }


async def test_provision_omits_parameters_that_were_not_given(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    await client.provision("i1", SERVICE_ID, SYNC_PLAN_ID, **provision_kwargs(client.conn))
    body = broker.requests[0].body
    assert "parameters" not in body and "maintenance_info" not in body


async def test_space_guid_falls_back_to_namespace_name_when_uid_unknown(
    programmable_broker: ProgrammableBroker,
) -> None:
    conn = make_conn(programmable_broker)
    g = platform_guids(conn, namespace="dev")
    assert (g.organization_guid, g.space_guid) == (CLUSTER_ID, "dev")
    no_cluster = make_conn(programmable_broker, cluster_id="")
    assert platform_guids(no_cluster, namespace="dev").organization_guid != ""


async def test_update_sends_only_what_changes_plus_previous_values_and_context(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    kw = provision_kwargs(client.conn)
    await client.provision("i1", SERVICE_ID, SYNC_PLAN_ID, **kw)
    await client.update(
        "i1",
        SERVICE_ID,
        parameters={"size": 5},
        previous_values={"plan_id": SYNC_PLAN_ID},
        context=kw["context"],
    )
    await client.update(
        "i1",
        SERVICE_ID,
        plan_id=LARGE_PLAN_ID,
        previous_values={"plan_id": SYNC_PLAN_ID},
        context=kw["context"],
    )
    params_only, plan_only = (r.body for r in broker.requests_to("PATCH"))
    assert "plan_id" not in params_only, "absent plan_id means: do not change the plan"
    assert params_only["parameters"] == {"size": 5}
    assert params_only["previous_values"] == {"plan_id": SYNC_PLAN_ID}
    assert params_only["context"]["instance_name"] == "my-db"
    assert "parameters" not in plan_only, "absent parameters means: do not change them"
    assert plan_only["plan_id"] == LARGE_PLAN_ID
    assert broker.instances["i1"].plan_id == LARGE_PLAN_ID


async def test_deprovision_and_unbind_send_service_and_plan_ids(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    await client.delete("i1", SERVICE_ID, SYNC_PLAN_ID)
    await client.delete("i1", SERVICE_ID, SYNC_PLAN_ID, binding_id="b1")
    for r in broker.requests:
        assert r.query["service_id"] == SERVICE_ID and r.query["plan_id"] == SYNC_PLAN_ID
        assert r.raw_body == b""


async def test_bind_body_has_binding_context_bind_resource_and_app_guid(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    await client.provision("i1", SERVICE_ID, SYNC_PLAN_ID, **provision_kwargs(client.conn))
    outcome = await client.bind(
        "i1",
        "b1",
        SERVICE_ID,
        SYNC_PLAN_ID,
        context=binding_context(client.conn, namespace="dev"),
        parameters={"role": "ro"},
        bind_resource={"app_guid": "ns-uid-1"},
        app_guid="ns-uid-1",
    )
    assert isinstance(outcome, Done) and outcome.status == 201
    assert outcome.body["credentials"]["username"] == "u-b1"
    body = broker.requests_to("PUT", "service_bindings")[0].body
    assert body == {
        "service_id": SERVICE_ID,
        "plan_id": SYNC_PLAN_ID,
        "context": {"platform": "kubernetes", "namespace": "dev", "clusterid": CLUSTER_ID},
        "parameters": {"role": "ro"},
        "bind_resource": {"app_guid": "ns-uid-1"},
        "app_guid": "ns-uid-1",
    }


async def test_get_catalog_returns_the_raw_json_object(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    outcome = await client.get_catalog()
    assert isinstance(outcome, Done)
    assert outcome.body == broker.catalog
    assert broker.requests[0].raw_query == "", "the catalog endpoint takes no query"


@pytest.mark.parametrize("body", [[1, 2], "not json", None, "null"])
async def test_catalog_that_is_not_an_object_is_malformed(
    client: OSBClient, broker: ProgrammableBroker, body: object
) -> None:
    broker.script("GET", "/v2/catalog", status=200, body=body)
    assert isinstance(await client.get_catalog(), Malformed)


async def test_unknown_response_fields_are_ignored(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    broker.script(
        "PUT",
        "/v2/service_instances/i1$",
        status=202,
        body={"operation": "op1", "x-vendor": {"anything": [1]}, "metadata": {"labels": {}}},
    )
    outcome = await client.provision(
        "i1", SERVICE_ID, SYNC_PLAN_ID, **provision_kwargs(client.conn)
    )
    assert isinstance(outcome, Accepted) and outcome.operation == "op1"
    assert outcome.body["x-vendor"] == {"anything": [1]}


async def test_base_url_with_path_prefix_is_kept(broker: ProgrammableBroker) -> None:
    broker.script("GET", "^/osb/v2/catalog$", status=200, body={"services": []})
    async with OSBClient(make_conn(broker, url=broker.url + "/osb/")) as c:
        outcome = await c.get_catalog()
    assert isinstance(outcome, Done) and outcome.body == {"services": []}
    assert broker.requests[0].path == "/osb/v2/catalog"


async def test_binding_rotation_sends_predecessor_binding_id(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    await client.provision("i1", SERVICE_ID, SYNC_PLAN_ID, **provision_kwargs(client.conn))
    ctx = binding_context(client.conn, namespace="dev")
    await client.bind(
        "i1", "b2", SERVICE_ID, SYNC_PLAN_ID, context=ctx, predecessor_binding_id="b1"
    )
    await client.bind("i1", "b3", SERVICE_ID, SYNC_PLAN_ID, context=ctx)
    rotated, plain = (r.body for r in broker.requests_to("PUT", "service_bindings"))
    assert rotated["predecessor_binding_id"] == "b1"
    assert "predecessor_binding_id" not in plain


async def test_instance_context_carries_optional_annotations(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    ctx = instance_context(
        client.conn,
        namespace="dev",
        instance_name="db",
        namespace_annotations={"team": "a"},
        instance_annotations={"cost": "x"},
    )
    assert ctx["namespace_annotations"] == {"team": "a"}
    assert ctx["instance_annotations"] == {"cost": "x"}
    plain = instance_context(client.conn, namespace="dev", instance_name="db")
    assert set(plain) == {"platform", "namespace", "clusterid", "instance_name"}


async def test_maintenance_upgrade_patch_sends_both_versions_and_nothing_else(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    await client.provision("i1", SERVICE_ID, SYNC_PLAN_ID, **provision_kwargs(client.conn))
    await client.update(
        "i1",
        SERVICE_ID,
        maintenance_info={"version": "2.0.0"},
        previous_values={"plan_id": SYNC_PLAN_ID, "maintenance_info": {"version": "1.0.0"}},
        context=provision_kwargs(client.conn)["context"],
    )
    body = broker.requests_to("PATCH")[0].body
    assert body["maintenance_info"] == {"version": "2.0.0"}
    assert body["previous_values"]["maintenance_info"] == {"version": "1.0.0"}
    assert "plan_id" not in body and "parameters" not in body


async def test_get_instance_is_not_found_while_provisioning_is_in_progress(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    created = await client.provision(
        "i1", SERVICE_ID, ASYNC_PLAN_ID, **provision_kwargs(client.conn)
    )
    assert isinstance(created, Accepted)
    got = await client.get("i1", SERVICE_ID, ASYNC_PLAN_ID)
    assert type(got).__name__ == "NotFound", "404 here does not mean deleted"
