"""What ``meshatlas discover`` shows, and a catalogue server checked before probing.

The real console script in a child process against the demo fixture mesh:
``-o table|wide|json|yaml``, ``--quiet``, progress on a terminal (a pty) and
none in a pipe; and ``--catalog http://…`` of a real ``meshatlas serve`` on
loopback, whose token is checked before a Service is probed.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import yaml

from fixtures.mesh import Mesh
from fixtures.ports import free_port
from tests import serving
from tests.test_cli_trust import BIN, ROOT, _env, _one_error, _Untouched, meshatlas

SCHEMA = json.loads((ROOT / "meshatlas/schemas/report.schema.json").read_text())
TOKEN = "output-test-token"


def _discover(mesh: Mesh, *args: str) -> list[str]:
    return ["discover", "--kubeconfig", str(mesh.kubeconfig), "-n", "billing", *args]


# --- -o --------------------------------------------------------------------------


def test_json_and_yaml_print_the_report_document(demo_mesh: Mesh, tmp_path: Path) -> None:
    as_json = meshatlas(*_discover(demo_mesh, "--dry-run", "-o", "json"), cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr[-2000:]
    doc = json.loads(as_json.stdout)  # stdout is the document and nothing else
    jsonschema.validate(doc, SCHEMA)
    # The demo mesh's billing namespace (DESIGN.md): four Services, invoice-ws a WSDL.
    assert {s["name"] for s in doc["services"]} == {
        "invoice-ws",
        "tax-calc",
        "ledger",
        "legacy-soap",
    }
    as_yaml = meshatlas(
        *_discover(demo_mesh, "--dry-run", "-o", "yaml", "--report", "r.json"), cwd=tmp_path
    )
    assert as_yaml.returncode == 0, as_yaml.stderr[-2000:]
    loaded = yaml.safe_load(as_yaml.stdout)
    jsonschema.validate(loaded, SCHEMA)
    assert loaded == json.loads((tmp_path / "r.json").read_text())  # the same document


def test_wide_adds_cluster_port_name_published_and_the_descriptions_url(
    demo_mesh: Mesh, tmp_path: Path
) -> None:
    wide = meshatlas(*_discover(demo_mesh, "--dry-run", "-o", "wide"), cwd=tmp_path)
    assert wide.returncode == 0, wide.stderr[-2000:]
    header = next(line for line in wide.stdout.splitlines() if "service" in line and "port" in line)
    for column in ("cluster", "port-name", "title", "api-version", "published", "reqs", "url"):
        assert column in header
    row = next(line for line in wide.stdout.splitlines() if "billing/invoice-ws" in line)
    # Apache CXF lists the WSDL at /services/InvoiceService?wsdl (DESIGN.md's table).
    assert "/services/InvoiceService?wsdl" in row and "not-published" in row
    assert row.split("│")[1].strip() == "demo"  # the cluster, also with only one
    table = meshatlas(*_discover(demo_mesh, "--dry-run"), cwd=tmp_path)
    assert "port-name" not in table.stdout and "?wsdl" not in table.stdout


def test_quiet_prints_nothing_but_what_is_asked(demo_mesh: Mesh, tmp_path: Path) -> None:
    quiet = meshatlas(*_discover(demo_mesh, "--dry-run", "--quiet"), cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stdout == ""
    assert "billing/invoice-ws" not in quiet.stderr and "Traceback" not in quiet.stderr
    as_json = meshatlas(*_discover(demo_mesh, "--dry-run", "-q", "-o", "json"), cwd=tmp_path)
    assert json.loads(as_json.stdout)["stats"]["services"] == 4


def test_report_to_stdout_and_an_output_format_are_refused_together(tmp_path: Path) -> None:
    proc = meshatlas("discover", "--report", "-", "-o", "yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--report - prints the report on stdout, -o yaml" in _one_error(proc)
    assert list(tmp_path.iterdir()) == []


# --- progress ------------------------------------------------------------------------


def _run_on_a_terminal(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run with stderr on a pty (a terminal) and stdout on a pipe; (code, stderr, stdout)."""
    controller, terminal = pty.openpty()
    env = _env(cwd, {"TERM": "xterm-256color", "COLUMNS": "160"})
    with subprocess.Popen(
        [str(BIN), *argv], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=terminal
    ) as child:
        os.close(terminal)
        assert child.stdout is not None
        seen = bytearray()
        out = bytearray()
        streams = {controller: seen, child.stdout.fileno(): out}
        while streams:
            ready, _, _ = select.select(list(streams), [], [], 120)
            assert ready, "the child said nothing for two minutes"
            for fd in ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if chunk:
                    streams[fd].extend(chunk)
                else:
                    del streams[fd]
        code = child.wait(timeout=60)
    os.close(controller)
    return code, seen.decode(errors="replace"), out.decode()


def test_progress_with_an_eta_on_a_terminal_and_none_in_a_pipe(
    demo_mesh: Mesh, tmp_path: Path
) -> None:
    argv = _discover(demo_mesh, "--dry-run", "--log-format", "text")
    code, terminal, stdout = _run_on_a_terminal(argv, tmp_path)
    assert code == 0, terminal[-2000:]
    assert "ETA" in terminal and ("probing" in terminal or "listing Services" in terminal)
    assert "ETA" not in stdout and "billing/invoice-ws" in stdout  # the table stays on stdout
    piped = meshatlas(*argv, cwd=tmp_path)
    assert piped.returncode == 0
    for word in ("ETA", "probing", "probed", "listing"):
        assert word not in piped.stderr
    quiet_code, quiet_terminal, _ = _run_on_a_terminal([*argv, "--quiet"], tmp_path)
    assert quiet_code == 0 and "ETA" not in quiet_terminal


# --- a catalogue server, checked before probing ---------------------------------------


def _assets(url: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/exchange/api/v2/assets", params={"limit": 100}, trust_env=False)
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()
    return found


def test_a_refused_token_stops_discover_before_probing(demo_mesh: Mesh, tmp_path: Path) -> None:
    with serving.serve_process(f"sqlite:///{tmp_path / 'served.db'}", tmp_path, token=TOKEN) as url:
        argv = _discover(demo_mesh, "--catalog", url, "--log-format", "text")
        for token, said in (
            ("not-the-token", "the catalogue server refused the token in $MESHATLAS_TOKEN (401:"),
            (None, "the catalogue server wants a token to publish (401:"),
        ):
            untouched = _Untouched(demo_mesh)
            env = {"MESHATLAS_TOKEN": token} if token else {}
            proc = meshatlas(*argv, cwd=tmp_path, env=env)
            assert proc.returncode == 2, proc.stderr[-2000:]
            line = _one_error(proc)
            assert line.startswith(f"error: --catalog {url}: {said}")
            assert "set $MESHATLAS_TOKEN to one it accepts" in line
            untouched.check()  # no Service probed, no Kubernetes list read
            assert _assets(url) == []
        accepted = meshatlas(*argv, cwd=tmp_path, env={"MESHATLAS_TOKEN": TOKEN})
        assert accepted.returncode == 0, accepted.stderr[-2000:]
        assert {a["assetId"] for a in _assets(url)} >= {"billing-invoice-ws", "billing-tax-calc"}


def test_a_catalogue_server_that_does_not_answer_is_said_before_probing(
    demo_mesh: Mesh, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    untouched = _Untouched(demo_mesh)
    proc = meshatlas(*_discover(demo_mesh, "--catalog", url, "--log-format", "text"), cwd=tmp_path)
    assert proc.returncode == 1
    line = _one_error(proc)
    assert line.startswith(f"error: --catalog {url}: the catalogue server did not answer")
    untouched.check()
