"""The Stripe emulator is its own distribution (emulator/), never part of the product.

`pip install .` of the product installs no `stripe_emulator` package and no `stripe-emulator`
command; production code never imports it; the two development commands that need it say how
to install it where it is missing. The emulator's own wheel carries its pages and its command.
"""

from __future__ import annotations

import ast
import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

# End-to-end: pip builds the wheels and the commands run as processes of their own.
pytestmark = pytest.mark.e2e

PRODUCT = ROOT / "src" / "medgrader"
# The only modules that may import the emulator, and only inside functions: `medgrader demo`
# and `medgrader stripe-emulator` (development commands).
DEV_COMMAND_MODULES = {PRODUCT / "cli.py", PRODUCT / "demo.py"}
# Runs the CLI as if the emulator were not installed: None in sys.modules makes any
# `import stripe_emulator` raise ModuleNotFoundError, as on a production install.
WITHOUT_EMULATOR = (
    "import sys; sys.modules['stripe_emulator'] = None; "
    "from medgrader.cli import app; sys.argv[0] = 'medgrader'; app()"
)


def _imports_emulator(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] == "stripe_emulator" for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] == "stripe_emulator"
    return False


def _module_level_imports(tree: ast.Module) -> list[ast.AST]:
    """Imports that run when the module is imported (not inside a function)."""
    found: list[ast.AST] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if _imports_emulator(node):
            found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def test_production_code_imports_the_emulator_only_inside_the_dev_commands() -> None:
    offenders: list[str] = []
    for path in sorted(PRODUCT.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(ROOT)
        offenders += [f"{where}:{n.lineno} (module level)" for n in _module_level_imports(tree)]
        if path not in DEV_COMMAND_MODULES:
            offenders += [f"{where}:{n.lineno}" for n in ast.walk(tree) if _imports_emulator(n)]
    assert offenders == []


@pytest.mark.parametrize(
    "command",
    [
        ["stripe-emulator", "--port", "0"],
        ["demo", "--port", "0", "--stripe-port", "0", "--smtp-port", "0", "--data-dir", "{data}"],
    ],
    ids=["stripe-emulator", "demo"],
)
def test_the_dev_commands_say_in_one_line_how_to_install_a_missing_emulator(
    command: list[str], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    args = [arg.replace("{data}", str(data_dir)) for arg in command]
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_EMULATOR, *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "development tool" in lines[0]
    assert "pip install ./emulator" in lines[0]
    assert result.stdout == ""
    assert not data_dir.exists()  # the demo started nothing


def test_the_dev_commands_still_work_where_the_emulator_is_installed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "medgrader.cli", "stripe-emulator", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--webhook-url" in result.stdout


def _build_wheel(project: Path, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """`pip wheel` of a project folder: the wheel's file names and its console scripts.

    Built from a copy of what the build reads, so a stale build/ folder in the checkout can
    neither add files to the wheel nor be left behind by it."""
    source = tmp_path / project.name
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(project / name, source / name)
    shutil.copytree(
        project / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         str(source), "-w", str(wheels)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points_name,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(entry_points_name).decode())
    return names, dict(entry_points["console_scripts"])


def test_the_product_wheel_carries_no_emulator(tmp_path: Path) -> None:
    names, scripts = _build_wheel(ROOT, tmp_path)
    assert [n for n in names if "stripe_emulator" in n] == []
    assert any(n.startswith("medgrader/") for n in names)  # the product itself is there
    assert scripts == {"medgrader": "medgrader.cli:app"}


def test_the_emulator_wheel_carries_its_pages_and_its_command(tmp_path: Path) -> None:
    names, scripts = _build_wheel(ROOT / "emulator", tmp_path)
    assert "stripe_emulator/templates/checkout.html" in names  # the hosted checkout page
    assert "stripe_emulator/inprocess.py" in names
    assert [n for n in names if n.startswith("medgrader/")] == []
    assert scripts == {"stripe-emulator": "stripe_emulator.cli:main"}
