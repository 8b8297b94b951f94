"""Every script in bench/ runs once at its tiny size (`--smoke`) and prints its figures.

A benchmark nobody runs rots: bench/webhooks.py once crashed before printing anything because
a name it borrowed from the product had gone. Here each script is found in bench/ (a new one is
picked up by itself), run as `python -m bench.<name> --smoke`, and must exit 0 (its own checks,
exactly-once and the audit, passed) and print the lines it exists to print: the patterns in its
FIGURES. Only that the figures are there is checked, never what they say about speed.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from medgrader.db.embedded import start_embedded_postgres
from tests.conftest import ROOT

# One worker runs the whole module: `runs` is module-scoped, and under xdist each worker that
# ran one of these tests would start every script again; two copies of a script share its
# database, and the second one's DROP DATABASE ... WITH (FORCE) cut the first one's
# connections (a CI run failed so: "terminating connection due to administrator command").
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("bench")]

BENCH = ROOT / "bench"
KNOWN = {"dashboard", "holds", "spend", "webhooks"}  # at least these: discovery finds scripts
TIMEOUT_SECONDS = 240


def scripts() -> list[str]:
    """The modules of bench/ that run as scripts (`python -m bench.<name>`)."""
    return sorted(
        path.stem
        for path in BENCH.glob("*.py")
        if re.search(r'^if __name__ == "__main__":', path.read_text(), re.MULTILINE)
    )


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    output: Path
    started: float

    def finish(self) -> tuple[int, str, float]:
        """Exit status, output (stdout, then stderr) and seconds taken."""
        code = self.process.wait(TIMEOUT_SECONDS)
        return code, self.output.read_text(errors="replace"), time.monotonic() - self.started


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Every script started at once: most of a smoke run is waiting (processes starting and
    stopping), not work. They share the benchmarks' PostgreSQL, started here first so that no
    script initialises it while another attaches to it."""
    start_embedded_postgres(ROOT / ".data" / "bench", database="postgres")
    folder = tmp_path_factory.mktemp("bench")
    started: dict[str, Run] = {}
    for name in scripts():
        output = folder / f"{name}.txt"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", f"bench.{name}", "--smoke"],
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        started[name] = Run(process, output, time.monotonic())
    yield started
    for run in started.values():
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait(10)


def test_the_scripts_are_found() -> None:
    assert set(scripts()) >= KNOWN
    assert "stack" not in scripts()  # the shared stack is a library, not a benchmark


@pytest.mark.parametrize("name", scripts())
def test_the_script_runs_at_its_smoke_size_and_prints_its_figures(
    name: str, runs: dict[str, Run]
) -> None:
    figures = getattr(importlib.import_module(f"bench.{name}"), "FIGURES", ())
    assert figures, f"bench/{name}.py has no FIGURES: the lines it exists to print, as regexes"
    code, output, seconds = runs[name].finish()
    assert code == 0, f"bench.{name} --smoke exited {code}:\n{output[-6000:]}"
    missing = [p for p in figures if not re.search(p, output, re.MULTILINE)]
    assert not missing, f"bench.{name} --smoke did not print {missing}:\n{output[-6000:]}"
    print(f"bench.{name} --smoke: {seconds:.1f} s")
