"""`medgrader demo` as a newcomer runs it: ports in use, a stop and a start again."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from medgrader.demo import DEMO_STUDENT
from tests.conftest import ROOT
from tests.support.live_server import free_port

# End-to-end: the demo's processes, servers and ports.
pytestmark = pytest.mark.e2e


def _demo_args(ports: dict[str, int], data_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "medgrader.cli", "demo",
        "--port", str(ports["api"]), "--stripe-port", str(ports["stripe"]),
        "--smtp-port", str(ports["smtp"]), "--data-dir", str(data_dir),
    ]  # fmt: skip


@pytest.fixture
def ports() -> dict[str, int]:
    return {"api": free_port(), "stripe": free_port(), "smtp": free_port()}


@pytest.fixture
def occupied() -> Iterator[socket.socket]:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        yield holder
    finally:
        holder.close()


@pytest.mark.parametrize(
    ("which", "named"), [("api", "API"), ("stripe", "Stripe emulator"), ("smtp", "SMTP sink")]
)
def test_a_taken_port_is_one_clear_line_and_exit_1_before_anything_starts(
    which: str, named: str, ports: dict[str, int], occupied: socket.socket, tmp_path: Path
) -> None:
    """Before: with the API's port taken the demo ran jobs for ten minutes with no API and
    ignored SIGTERM and SIGINT; with the emulator's it printed an 80-line traceback."""
    taken = occupied.getsockname()[1]
    ports[which] = taken
    data_dir = tmp_path / "data"
    began = time.monotonic()
    result = subprocess.run(
        _demo_args(ports, data_dir), cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - began
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    # An error: on standard error, on one line (not wrapped), and nothing on standard output.
    assert result.stdout == "", output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    lines = [line for line in lines if "Warning" not in line and "return Path(" not in line]
    assert len(lines) == 1, output  # platformdirs' warnings aside
    assert f"port {taken} ({named}) is already in use" in lines[0]
    assert f"--{'port' if which == 'api' else which + '-port'}" in lines[0]
    assert not (data_dir / "pg").exists()  # no database was started
    # Nothing was left listening on the ports that were free.
    for name, port in ports.items():
        if name != which:
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0, name
    assert elapsed < 30, elapsed  # seconds, not the ten minutes of before


def _start(ports: dict[str, int], data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        process = subprocess.Popen(
            _demo_args(ports, data_dir), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{ports['api']}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise AssertionError("the demo did not start:\n" + log.read_text())


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(60)


def _checkout(base: str) -> httpx.Response:
    login = httpx.post(
        f"{base}/api/auth/login",
        json={"email": DEMO_STUDENT[0], "password": DEMO_STUDENT[1]},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
    package = httpx.get(f"{base}/api/credit-packages", timeout=30).json()[0]["id"]
    return httpx.post(
        f"{base}/api/payments/credit-checkout",
        json={"packageId": package},
        headers=headers,
        timeout=30,
    )


def test_a_student_who_bought_before_can_buy_again_after_the_demo_restarts(
    ports: dict[str, int], tmp_path: Path
) -> None:
    """Before: the emulator forgot its customers at each restart and every such student got
    502 on checkout for good."""
    data_dir, log = tmp_path / "data", tmp_path / "demo.log"
    base = f"http://127.0.0.1:{ports['api']}"
    demo = _start(ports, data_dir, log)
    try:
        first = _checkout(base)
        assert first.status_code == 201, first.text
        docs = httpx.get(f"{base}/docs", timeout=30)
        assert docs.status_code == 200
        assert "/docs/assets/swagger-ui-bundle.js" in docs.text
    finally:
        _stop(demo)
    assert (data_dir / "stripe-emulator.json").exists()
    demo = _start(ports, data_dir, log)
    try:
        again = _checkout(base)
        assert again.status_code == 201, again.text + log.read_text()[-3000:]
        assert again.json()["sessionId"] != first.json()["sessionId"]
    finally:
        _stop(demo)
    assert "Traceback" not in log.read_text()
