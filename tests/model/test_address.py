"""Addresses as keys: equal addresses hash alike, in this process and after a copy from another."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

from catalogctl.model.address import Address


def test_equal_addresses_are_one_key_and_order_by_kind_namespace_name() -> None:
    a = Address("ServiceInstance", "team", "db")
    assert {a: 1}[Address.parse("ServiceInstance/team/db")] == 1
    assert sorted([Address("ServiceInstance", "b", "a"), Address("ServiceInstance", "a", "z")]) == [
        Address("ServiceInstance", "a", "z"),
        Address("ServiceInstance", "b", "a"),
    ]
    assert repr(a) == "Address(kind='ServiceInstance', namespace='team', name='db')"


def test_an_address_pickled_by_another_process_is_found_as_a_key_here() -> None:
    # String hashes are salted per process: a copy must not bring the sender's hash along.
    code = (
        "import pickle, sys; from catalogctl.model.address import Address; "
        "sys.stdout.buffer.write(pickle.dumps(Address('ServiceBinding', 'team', 'db-binding')))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    sent = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=True)
    received = pickle.loads(sent.stdout)
    assert received == Address("ServiceBinding", "team", "db-binding")
    assert {Address("ServiceBinding", "team", "db-binding"): "here"}[received] == "here"
