"""meshatlas.yaml, MESHATLAS_* variables and flags: precedence and errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from fixtures.mesh import Mesh
from meshatlas import cli
from meshatlas.interface import config


def _parse(argv: list[str], environ: dict[str, str] | None = None) -> argparse.Namespace:
    parser = cli.build_parser()
    args = parser.parse_args(["discover", *argv])
    return config.apply(
        args, parser=config.subparser(parser, "discover"), argv=argv, environ=environ or {}
    )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "meshatlas.yaml"
    path.write_text(text)
    return path


def test_schema_covers_every_discover_flag() -> None:
    keys = config.file_keys(config.subparser(cli.build_parser(), "discover"))
    properties = config.schema()["properties"]["discover"]["properties"]
    assert set(properties) == set(keys)


def test_file_sets_every_kind_of_flag(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
discover:
  in-cluster: true
  namespace: [shop, billing]
  catalog: http://catalog.example:8080
  concurrency: 8
  timeout: 2.5
  out: out/
  telemetry-at: 2026-01-01T00:00:00Z
  log-format: json
""",
    )
    args = _parse(["--config", str(path)])
    assert args.in_cluster is True
    assert args.namespace == ["shop", "billing"]
    assert args.catalog == "http://catalog.example:8080"
    assert args.concurrency == 8 and args.timeout == 2.5
    assert args.out == Path("out/")
    assert args.telemetry_at.isoformat() == "2026-01-01T00:00:00+00:00"
    assert args.log_format == "json"
    # Untouched flags keep their defaults.
    assert args.group_id == "meshatlas" and args.dry_run is False


def test_environment_overrides_file_and_flags_override_both(tmp_path: Path) -> None:
    path = _write(tmp_path, "discover:\n  concurrency: 8\n  namespace: [shop]\n  dry-run: true\n")
    environ = {
        "MESHATLAS_CONCURRENCY": "4",
        "MESHATLAS_NAMESPACE": "billing, platform",
        "MESHATLAS_DRY_RUN": "false",
        "MESHATLAS_TOKEN": "not a setting, ignored",
    }
    args = _parse(["--config", str(path)], environ)
    assert args.concurrency == 4
    assert args.namespace == ["billing", "platform"]
    assert args.dry_run is False
    args = _parse(["--config", str(path), "--concurrency", "2", "--namespace", "x"], environ)
    assert args.concurrency == 2
    assert args.namespace == ["x"]  # replaces, does not add to, the other sources


def test_config_file_named_by_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, "discover:\n  group-id: team-a\n")
    assert _parse([], {"MESHATLAS_CONFIG": str(path)}).group_id == "team-a"


def test_empty_file_is_no_settings(tmp_path: Path) -> None:
    assert _parse(["--config", str(_write(tmp_path, ""))]).concurrency == 64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "discover:\n  namespce: [shop]\n",
            "discover.namespce: unknown key (did you mean 'namespace'?)",
        ),
        ("serve:\n  port: 1\n", "serve: unknown key"),
        ("discover:\n  concurrency: 0\n", "discover.concurrency: 0 is less than the minimum of 1"),
        ("discover:\n  in-cluster: 'yes'\n", "discover.in-cluster: 'yes' is not of type 'boolean'"),
        ("discover:\n  namespace: shop\n", "discover.namespace: 'shop' is not of type 'array'"),
        ("discover:\n  catalog: mysql://db\n", "discover.catalog: 'mysql://db' does not match"),
        ("discover:\n  log-format: xml\n", "discover.log-format: 'xml' is not one of"),
        ("discover: [\n", "not valid YAML"),
        ("- discover\n", "(top level): ['discover'] is not of type 'object'"),
    ],
)
def test_bad_file_names_the_key(text: str, message: str, tmp_path: Path) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(config.ConfigError) as caught:
        _parse(["--config", str(path)])
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MESHATLAS_CONCURRENCY": "many"}, "$MESHATLAS_CONCURRENCY: invalid literal"),
        ({"MESHATLAS_TIMEOUT": "-1"}, "$MESHATLAS_TIMEOUT: must be positive"),
        ({"MESHATLAS_IN_CLUSTER": "maybe"}, "$MESHATLAS_IN_CLUSTER: 'maybe' is not true or false"),
        ({"MESHATLAS_LOG_FORMAT": "xml"}, "$MESHATLAS_LOG_FORMAT: 'xml' is not one of"),
        ({"MESHATLAS_TELEMETRY_AT": "soon"}, "$MESHATLAS_TELEMETRY_AT: 'soon' is not RFC 3339"),
    ],
)
def test_bad_variable_is_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        _parse([], environ)
    assert message in str(caught.value)


def test_cli_exits_2_on_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "discover:\n  concurency: 4\n")
    assert cli.main(["discover", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "discover.concurency: unknown key (did you mean 'concurrency'?)" in err
    assert cli.main(["discover", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err
    monkeypatch.setenv("MESHATLAS_DEPRECATE_AFTER", "0")
    assert cli.main(["discover", "--dry-run"]) == 2
    assert "$MESHATLAS_DEPRECATE_AFTER: must be at least 1" in capsys.readouterr().err


def _log_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_discover_from_a_config_file_logs_json(
    demo_mesh: Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(
        tmp_path,
        f"""
discover:
  kubeconfig: {demo_mesh.kubeconfig}
  namespace: [billing]
  dry-run: true
  report: {tmp_path / "report.json"}
""",
    )
    # stderr is captured, not a terminal: log-format auto means JSON lines.
    code = cli.main(["discover", "--config", str(path)])
    captured = capsys.readouterr()
    assert code in (0, 3)
    lines = _log_lines(captured.err)
    assert all(set(line) == {"ts", "level", "msg", "fields"} for line in lines)
    assert all(line["ts"].endswith("Z") for line in lines)
    finished = [line for line in lines if line["msg"] == "discovery finished"]
    assert len(finished) == 1
    assert finished[0]["fields"]["services"] == 4  # billing's four services
    apis = {line["fields"]["service"] for line in lines if line["msg"] == "api"}
    assert "billing/invoice-ws" in apis
    assert captured.out == ""  # no table: everything is in the log
    report = json.loads((tmp_path / "report.json").read_text())
    assert {s["namespace"] for s in report["services"]} == {"billing"}


def test_text_logs_when_asked(
    demo_mesh: Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--namespace", "billing"]
    assert cli.main([*argv, "--dry-run", "--log-format", "text", "--log-level", "debug"]) in (0, 3)
    captured = capsys.readouterr()
    assert "probed 4/4 services" in captured.err  # off a terminal, progress is debug lines
    assert "billing/invoice-ws" in captured.out


def test_span_cap_from_file_environment_and_flag_reaches_the_run(tmp_path: Path) -> None:
    from meshatlas.commands.discover import options_from
    from meshatlas.job.drift import DEFAULT_SPAN_CAP

    assert options_from(_parse([])).span_cap == DEFAULT_SPAN_CAP
    path = _write(tmp_path, "discover:\n  span-cap: 250\n")
    assert options_from(_parse(["--config", str(path)])).span_cap == 250
    environ = {"MESHATLAS_SPAN_CAP": "40"}
    assert options_from(_parse(["--config", str(path)], environ)).span_cap == 40
    assert options_from(_parse(["--config", str(path), "--span-cap", "7"], environ)).span_cap == 7
    with pytest.raises(config.ConfigError, match="span-cap"):
        _parse(["--config", str(_write(tmp_path, "discover:\n  span-cap: 0\n"))])
