"""The package's public surface is what the engine may import; keep it deliberate."""

from __future__ import annotations

from pathlib import Path

import catalogctl.state as state


def test_all_names_resolve_and_nothing_else_is_advertised() -> None:
    assert sorted(state.__all__) == sorted(set(state.__all__))
    for name in state.__all__:
        assert getattr(state, name) is not None, name
    assert {"State", "ResourceState", "StateBackend", "LocalBackend", "LockInfo"} <= set(
        state.__all__
    )


def test_local_backend_satisfies_the_protocols(tmp_path: Path) -> None:
    backend = state.LocalBackend(tmp_path)
    assert isinstance(backend, state.StateBackend)
    assert isinstance(backend, state.StateReader)
    assert isinstance(backend, state.StateLocker)
    assert isinstance(backend, state.StateWriter)
    info = backend.lock("apply")
    journal = backend.begin(backend.read())
    assert isinstance(journal, state.Journal)
    journal.close()
    backend.unlock(info.id)
