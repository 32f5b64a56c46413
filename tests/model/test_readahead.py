"""Sources read ahead in a forked child: same documents and problems as a serial read.

The forking cases run in a fresh interpreter: the child is only forked from a
single-threaded process, and a pytest process may hold threads from other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from catalogctl.model import readahead
from catalogctl.model.readahead import MIN_BYTES, Sources, read_ahead
from catalogctl.model.source import read_sources

_INSTANCE = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata: {{name: db-{i}, namespace: team-{ns}}}
spec:
  clusterServiceClassExternalName: "db"
  clusterServicePlanExternalName: small
  parameters: {{size: {i}, ratio: 0.5, on: yes, none: ~, tags: [a, "b", 3], when: 2021-04-28}}
"""


def _write_inputs(directory: Path, *, broken: bool = True) -> Path:
    """Several files, over MIN_BYTES in all, with a syntax error and a duplicate key."""
    services = directory / "services"
    (services / "nested").mkdir(parents=True)
    per_file = 400
    i = 0
    for n in range(4):
        docs = [_INSTANCE.format(i=i + k, ns=k % 3) for k in range(per_file)]
        i += per_file
        where = services / "nested" if n % 2 else services
        (where / f"batch-{n}.yaml").write_text("---\n".join(docs), encoding="utf-8")
    (services / "dup.yml").write_text("a: 1\nb: {c: 1, c: 2}\na: 3\n", encoding="utf-8")
    if broken:
        (services / "zz-broken.yaml").write_text("a: [1, 2\nb: 3\n", encoding="utf-8")
    (services / "notes.txt").write_text("not yaml: [", encoding="utf-8")
    assert sum(f.stat().st_size for f in services.rglob("*.yaml")) > MIN_BYTES
    return services


_IN_FRESH_PROCESS = textwrap.dedent(
    """
    import json, os, signal, sys
    from catalogctl.model.readahead import read_ahead
    from catalogctl.model.source import read_sources

    paths, how = sys.argv[1:-1], sys.argv[-1]
    sources = read_ahead(paths)
    forked = sources.ahead
    if how == "kill":
        os.kill(sources._child[0], signal.SIGKILL)
    if how == "close":
        pid = sources._child[0]
        sources.close()
        try:
            os.waitpid(pid, os.WNOHANG)
            reaped = False
        except ChildProcessError:
            reaped = True
        print(json.dumps({"forked": forked, "reaped": reaped}))
        sys.exit(0)
    documents, problems = sources.result()
    serial = read_sources(paths)
    print(json.dumps({
        "forked": forked,
        "same": (documents, problems) == serial,
        "same_marks": [d.marks for d in documents] == [d.marks for d in serial[0]],
        "marks": sum(len(d.marks) for d in documents),
        "documents": len(documents),
        "problems": [p.render() for p in problems],
        "duplicates": [repr(d.duplicate_keys) for d in documents if d.duplicate_keys],
    }))
    """
)


def _run_fresh(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _IN_FRESH_PROCESS, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


needs_two_cpus = pytest.mark.skipif(
    sys.platform != "linux" or len(os.sched_getaffinity(0)) < 2,
    reason="read-ahead forks only on Linux with two CPUs or more",
)


@needs_two_cpus
def test_a_child_reads_large_inputs_and_answers_exactly_what_a_serial_read_gives(
    tmp_path: Path,
) -> None:
    services = _write_inputs(tmp_path)
    extra = tmp_path / "single.yaml"
    extra.write_text("kind: A\n---\n---\nkind: B\n", encoding="utf-8")
    result = _run_fresh(str(services), str(extra), str(tmp_path / "missing.yaml"), "result")
    assert result["forked"] is True
    assert result["same"] is True
    assert result["same_marks"] is True and result["marks"] > 1600 * 10
    assert result["documents"] == 1600 + 1 + 2
    problems = result["problems"]
    assert isinstance(problems, list) and len(problems) == 2
    assert problems[0].startswith(f"{services}/zz-broken.yaml:2:2: YAML syntax error")
    assert problems[1] == f"{tmp_path}/missing.yaml:0:0: no such file or directory"
    assert result["duplicates"] != []


@needs_two_cpus
def test_a_child_that_dies_leaves_the_read_to_the_parent(tmp_path: Path) -> None:
    result = _run_fresh(str(_write_inputs(tmp_path)), "kill")
    assert result["forked"] is True
    assert result["same"] is True
    assert result["documents"] == 1601


@needs_two_cpus
def test_closing_unread_sources_stops_and_reaps_the_child(tmp_path: Path) -> None:
    result = _run_fresh(str(_write_inputs(tmp_path)), "close")
    assert result == {"forked": True, "reaped": True}


def test_small_inputs_stdin_and_threads_are_read_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = tmp_path / "small.yaml"
    small.write_text("kind: A\n", encoding="utf-8")
    sources = read_ahead([str(small)])
    assert not sources.ahead
    assert sources.result() == read_sources([str(small)])

    big = _write_inputs(tmp_path / "big", broken=False)
    assert not read_ahead([str(big), "-"]).ahead  # stdin belongs to the parent

    monkeypatch.setattr(readahead.os, "sched_getaffinity", lambda pid: {0, 1})
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert not read_ahead([str(big)]).ahead  # never fork beside another thread
    finally:
        stop.set()
        worker.join()


def test_sources_not_read_ahead_read_in_process_on_demand(tmp_path: Path) -> None:
    services = _write_inputs(tmp_path)
    sources = Sources([str(services)])  # never started
    assert not sources.ahead
    assert sources.result() == read_sources([str(services)])
    sources.close()  # nothing to stop


@needs_two_cpus
def test_plan_reports_problems_found_by_a_read_ahead_child(tmp_path: Path) -> None:
    services = _write_inputs(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "catalogctl", "--no-color", "plan", "-f", str(services)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    assert f"{services}/zz-broken.yaml:2:2: YAML syntax error" in done.stderr
    assert f"{services}/dup.yml:3:1" in done.stderr  # the repeated key, from the child's marks
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "state").exists()  # nothing read or locked
