"""Benchmark ``catalogctl --help`` start-up and list the heaviest imports.

``--help`` (and every command's start) pays for interpreter start-up plus
whatever ``catalogctl.cli.main`` imports; commands load lazily, so listing
them must not import networkx, pydantic, httpx or kubernetes.

Times ``python -m catalogctl --help`` as a subprocess (median of runs; target
under 0.3 s), compares it with a bare ``python -c pass``, then runs
``python -X importtime`` and prints the heaviest imports (cumulative).

    python bench/bench_help.py [--runs 15] [--top 15] [--command validate --help]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

TARGET_SECONDS = 0.3
HEAVY = ("networkx", "pydantic", "httpx", "kubernetes", "yaml", "deepdiff", "jsonschema")


def time_runs(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{argv} failed:\n{proc.stderr}")
    return times


def import_times(args: list[str]) -> list[tuple[int, int, str]]:
    """(self µs, cumulative µs, module) for every import ``catalogctl args`` makes."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "catalogctl", *args],
        capture_output=True, text=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:") :].split("|")
        name = name.rstrip()[1:]  # keep the nesting indent, drop the separator space
        rows.append((int(self_us), int(cumulative), name))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--command", nargs=argparse.REMAINDER, default=["--help"],
                        help="arguments to time instead of --help (e.g. validate --help)")
    args = parser.parse_args()
    argv = [sys.executable, "-m", "catalogctl", *args.command]
    time_runs(argv, 2)  # warm bytecode and file caches
    bare = statistics.median(time_runs([sys.executable, "-c", "pass"], args.runs))
    runs = time_runs(argv, args.runs)
    median = statistics.median(runs)
    shown = " ".join(["catalogctl", *args.command])
    print(f"{shown}: median {median:.3f} s (min {min(runs):.3f}, max {max(runs):.3f}, "
          f"{args.runs} runs); bare interpreter {bare:.3f} s")
    verdict = "OK" if median < TARGET_SECONDS else "MISSED"
    print(f"target < {TARGET_SECONDS:.1f} s: {verdict}")

    rows = import_times(args.command)
    total = sum(self_us for self_us, _, _ in rows)
    print(f"\n{len(rows)} modules imported, {total / 1000:.0f} ms of import time in all; "
          f"heaviest (cumulative):")
    top_level = [r for r in rows if not r[2].startswith(" ")]
    for self_us, cumulative, name in sorted(rows, key=lambda r: -r[1])[: args.top]:
        print(f"  {cumulative / 1000:7.1f} ms  (self {self_us / 1000:5.1f} ms)  {name}")
    loaded = {name.strip().split(".")[0] for _, _, name in rows}
    heavy = sorted(h for h in HEAVY if h in loaded)
    print(f"\ntop-level imports: {len(top_level)}; heavy libraries imported: "
          f"{', '.join(heavy) if heavy else 'none'}")
    return 0 if median < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
