"""Progress lines, and the live bar a large apply draws on a terminal."""

from __future__ import annotations

import asyncio
import io

import pytest

from catalogctl.engine.progress import Progress


def run_steps(progress: Progress, n: int, fail_last: bool = False) -> None:
    async def main() -> None:
        for i in range(n):
            try:
                async with progress.step(f"ServiceInstance/ns/db-{i}", "provision") as info:
                    info["id"] = f"id-{i}"
                    if fail_last and i == n - 1:
                        raise RuntimeError("boom")
            except RuntimeError:
                pass

    asyncio.run(main())


def test_lines_in_terraform_rhythm_without_a_bar() -> None:
    lines: list[str] = []
    run_steps(Progress(lines.append), 2)
    assert lines[0] == "ServiceInstance/ns/db-0: Provisioning..."
    assert lines[1] == "ServiceInstance/ns/db-0: Provisioned after 0s [id=id-0]"
    assert len(lines) == 4


def test_large_apply_on_a_terminal_gets_a_bar_that_is_cleared_around_lines() -> None:
    lines: list[str] = []
    bar = io.StringIO()
    progress = Progress(lines.append, bar=bar, total=25)
    run_steps(progress, 25, fail_last=True)
    text = bar.getvalue()
    assert "[" + "#" * 28 + ".." + "] 24/25 steps done, 1 failed" in text
    progress.close()
    assert bar.getvalue().endswith("\r\033[K")
    assert len(lines) == 50  # every step still has its lines


@pytest.mark.parametrize("total", [0, 19])
def test_small_applies_get_no_bar(total: int) -> None:
    bar = io.StringIO()
    run_steps(Progress(lambda _: None, bar=bar, total=total), 3)
    assert bar.getvalue() == ""


def test_long_steps_report_still_running_each_interval() -> None:
    lines: list[str] = []
    progress = Progress(lines.append, interval=0.05)

    def ticks() -> list[str]:
        return [line for line in lines if "Still" in line]

    async def main() -> None:
        async def slow() -> None:
            async with progress.step("ServiceInstance/ns/slow", "provision"):
                while len(ticks()) < 3:
                    await asyncio.sleep(0.01)

        async def fast() -> None:
            async with progress.step("ServiceInstance/ns/fast", "bind"):
                await asyncio.sleep(0)

        await asyncio.gather(slow(), fast())
        await asyncio.sleep(0.15)  # nothing runs any more: no more lines
        progress.close()

    asyncio.run(main())
    # Only the running step ticks, with its elapsed time, and ticking stops with it.
    assert ticks() == ["ServiceInstance/ns/slow: Still provisioning... [0s elapsed]"] * 3
    assert lines[-1].startswith("ServiceInstance/ns/slow: Provisioned after 0s")


def test_an_inner_step_of_the_same_resource_silences_the_outer_ones_ticks() -> None:
    lines: list[str] = []
    progress = Progress(lines.append, interval=0.05)

    async def main() -> None:
        async with (
            progress.step("ServiceInstance/ns/db", "provision"),
            progress.step("ServiceInstance/ns/db", "mitigate"),
        ):
            while sum("Still cleaning up" in line for line in lines) < 3:
                await asyncio.sleep(0.01)
        progress.close()

    asyncio.run(main())
    assert not any("Still provisioning" in line for line in lines), lines
    assert "ServiceInstance/ns/db: Cleaned up after 0s" in lines
