"""The command line: help, version, usage errors and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.mesh import Mesh
from meshatlas.cli import main
from meshatlas.job.pipeline import redact
from meshatlas.version import VERSION


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"meshatlas {VERSION}"


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "discover" in out and "demo" in out
    assert main(["discover", "--help"]) == 0
    assert "--kubeconfig" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nonsense"],
        ["discover", "--concurrency", "0"],
        ["discover", "--timeout", "-1"],
        ["discover", "--no-such-flag"],
        ["discover", "--kubeconfig", "/nonexistent/kubeconfig"],
        ["discover", "--catalog", "mysql://x/y"],
        ["discover", "--catalog", "https://catalog.example"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    if argv:
        assert capsys.readouterr().err.startswith(("error:", "usage:"))


def test_dry_run_publishes_nothing_and_report_to_stdout(
    demo_mesh: Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "never.db"
    code = main(
        [
            "discover",
            "--kubeconfig",
            str(demo_mesh.kubeconfig),
            "--dry-run",
            "--catalog",
            f"sqlite:///{db}",
            "--report",
            "-",
            "--namespace",
            "billing",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert not db.exists()
    assert report["catalog"] is None
    assert {s["namespace"] for s in report["services"]} == {"billing"}
    assert {a["asset"]["outcome"] for s in report["services"] for a in s["apis"]} == {
        "not-published"
    }


def test_selector_limits_services(demo_mesh: Mesh, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "discover",
            "--kubeconfig",
            str(demo_mesh.kubeconfig),
            "--dry-run",
            "--report",
            "-",
            "--selector",
            "app in (orders,ledger)",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert sorted(s["name"] for s in report["services"]) == ["ledger", "orders"]


def test_unreadable_services_make_a_partial_run(
    demo_mesh: Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = demo_mesh.state("demo")
    state.forbidden = frozenset({"virtualservices"})
    try:
        code = main(
            [
                "discover",
                "--kubeconfig",
                str(demo_mesh.kubeconfig),
                "--catalog",
                f"sqlite:///{tmp_path / 'c.db'}",
                "--report",
                "-",
                "--namespace",
                "shop",
            ]
        )
    finally:
        state.forbidden = frozenset()
    report = json.loads(capsys.readouterr().out)
    assert code == 3
    assert report["outcome"] == "partial"
    (problem,) = report["problems"]
    assert "virtualservices" in problem["what"] and "403" in problem["why"]
    # What could be read was still published: shop's seven APIs (catalog,
    # orders, payments, inventory, reviews, frontend, shipping).
    assert report["stats"]["published"]["created"] == 7


def test_catalog_that_cannot_open_is_refused_before_probing(
    demo_mesh: Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Checked before anything is probed: a usage error, one line, no report.
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    before = demo_mesh.backend_requests()
    code = main(
        [
            "discover",
            "--kubeconfig",
            str(demo_mesh.kubeconfig),
            "--namespace",
            "billing",
            "--catalog",
            f"sqlite:///{blocker}/c.db",
            "--report",
            "-",
        ]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert f"{blocker} is not a directory" in captured.err
    assert demo_mesh.backend_requests() == before


def test_redact_hides_passwords() -> None:
    assert redact("postgresql://u:pw@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert redact("sqlite:///a.db") == "sqlite:///a.db"


def test_exhaustive_probing_finds_the_same_apis_with_more_requests(
    demo_mesh: Mesh, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--dry-run", "--report", "-"]
    assert main([*argv, "--namespace", "shop"]) == 0
    quick = json.loads(capsys.readouterr().out)
    assert main([*argv, "--namespace", "shop", "--exhaustive"]) == 0
    thorough = json.loads(capsys.readouterr().out)

    def kinds(report: dict[str, object]) -> dict[str, object]:
        return {
            s["name"]: [
                (a["kind"], a["spec"] and a["spec"]["url"].rsplit("/", 1)[-1]) for a in s["apis"]
            ]
            for s in report["services"]  # type: ignore[attr-defined]
        }

    assert kinds(quick) == kinds(thorough)
    assert thorough["stats"]["requests"] > quick["stats"]["requests"]


def test_a_configured_probe_path_is_tried_first(
    demo_mesh: Mesh, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--dry-run", "--report", "-"]
    assert main([*argv, "--selector", "app=inventory", "--probe-path", "/q/openapi"]) == 0
    report = json.loads(capsys.readouterr().out)
    (service,) = report["services"]
    (api,) = service["apis"]
    assert service["requests"] == 1
    assert api["evidence"][0]["check"] == "configured"


@pytest.mark.parametrize("how", ["flag", "variable", "file"])
def test_a_probe_path_that_is_not_a_path_is_refused_every_way(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # '@host:port/x' appended to http://address:port would become userinfo and a
    # request to another host; the flag, the variable and the file refuse it alike.
    bad = "@127.0.0.2:80/x"
    argv = ["discover", "--dry-run", "--kubeconfig", str(tmp_path / "none")]
    if how == "flag":
        argv += ["--probe-path", bad]
    elif how == "variable":
        monkeypatch.setenv("MESHATLAS_PROBE_PATH", bad)
    else:
        config = tmp_path / "meshatlas.yaml"
        config.write_text(f'discover:\n  probe-path: ["{bad}"]\n')
        argv += ["--config", str(config)]
    assert main(argv) == 2
    assert bad in capsys.readouterr().err
