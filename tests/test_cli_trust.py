"""Trust at first contact: the real ``meshatlas`` command, run as a user runs it.

Every test starts the installed console script in a child process, with a
clean environment (no ``MESHATLAS_*``, no ``KUBECONFIG``, ``HOME`` in the
test's folder), real files, and real servers on loopback: the demo fixture
mesh, a small mesh with a Service that never answers, PostgreSQL. Each
refusal is checked for its message, its exit code, and that nothing was
probed, published or created.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import catalog
from fixtures.backends import Backend
from fixtures.mesh import SPECS_DIR, Mesh
from fixtures.ports import free_port
from meshatlas import cli
from meshatlas.job import outcome
from meshatlas.status import ExitCode
from meshatlas.version import VERSION
from tests import manifests
from tests.conftest import mesh_octet

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "meshatlas"
#: Packages a command that only prints its version or help must not import.
HEAVY = {
    "discovery",
    "catalog",
    "graph",
    "kubernetes",
    "aiohttp",
    "sqlalchemy",
    "httpx",
    "networkx",
    "rich",
    "jsonschema",
    "yaml",
}


def _env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MESHATLAS_") and k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")
    }
    env["HOME"] = str(home)  # no ~/.kube/config but the test's own
    env.update(extra or {})
    return env


def meshatlas(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 180,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """``meshatlas ARGS`` in ``cwd``, as a shell would run it."""
    return subprocess.run(
        [str(BIN), *args],
        cwd=cwd,
        env=_env(cwd, env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )


def _one_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The single ``error:`` line a refusal prints, with no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


class _Untouched:
    """Asserts that a command contacted no backend and read no Kubernetes list."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self.backends = mesh.backend_requests()
        self.kube = {c.name: dict(c.state.requests) for c in mesh.clusters}

    def check(self) -> None:
        assert self.mesh.backend_requests() == self.backends, "a backend was probed"
        assert {c.name: dict(c.state.requests) for c in self.mesh.clusters} == self.kube


# --- start-up -----------------------------------------------------------------


def _imported(*args: str, cwd: Path) -> set[str]:
    """Top-level packages the console script imports to run ``args``."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(BIN), *args],
        cwd=cwd,
        env=_env(cwd),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", proc.stderr, re.M)
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize("args", [["--version"], ["version"], ["--help"], ["completion", "-h"]])
def test_version_and_help_import_no_command_dependencies(args: list[str], tmp_path: Path) -> None:
    assert _imported(*args, cwd=tmp_path) & HEAVY == set()


def test_a_command_imports_its_dependencies_when_it_runs(tmp_path: Path) -> None:
    # The check above can see an import: discover's help needs discovery.
    assert {"discovery", "kubernetes", "catalog"} <= _imported("discover", "--help", cwd=tmp_path)


def test_version_command_and_flag_agree(tmp_path: Path) -> None:
    flag = meshatlas("--version", cwd=tmp_path)
    command = meshatlas("version", cwd=tmp_path)
    as_json = meshatlas("version", "-o", "json", cwd=tmp_path)
    assert flag.returncode == command.returncode == as_json.returncode == 0
    assert flag.stdout == command.stdout == f"meshatlas {VERSION}\n"
    doc = json.loads(as_json.stdout)
    assert doc["meshatlas"] == VERSION and doc["python"].count(".") == 2


def test_the_version_is_the_installed_distributions() -> None:
    from importlib import metadata

    assert VERSION == metadata.version("meshatlas")


def test_the_command_list_says_what_each_command_says_of_itself() -> None:
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    own = {a.dest: a.help for a in sub._choices_actions}  # type: ignore[attr-defined]
    assert own == {c.name: c.help for c in cli.COMMANDS}


def test_help_lists_every_command_without_loading_them(tmp_path: Path) -> None:
    proc = meshatlas("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for command in cli.COMMANDS:
        assert re.search(rf"^\s+{command.name}\s+\S", proc.stdout, re.M), command.name


# --- command-line conventions ---------------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["discover", "--kube", "x"],
            "meshatlas discover: unknown flag --kube; did you mean --kubeconfig?",
        ),
        (
            ["discover", "--namespce", "shop"],
            "meshatlas discover: unknown flag --namespce; did you mean --namespace?",
        ),
        (["discover", "--dry"], "meshatlas discover: unknown flag --dry; did you mean --dry-run?"),
        (
            ["export", "openapi", "--out", "d", "--cat", "x"],
            "meshatlas export: unknown flag --cat; did you mean --catalog?",
        ),
        (
            ["graph", "--formt=json"],
            "meshatlas graph: unknown flag --formt; did you mean --format?",
        ),
        (["--vers"], "meshatlas: unknown flag --vers; did you mean --version?"),
        (["discovr"], "meshatlas: unknown command 'discovr'; did you mean discover?"),
    ],
)
def test_flags_are_never_abbreviated_and_typos_name_the_flag_meant(
    args: list[str], said: str, tmp_path: Path
) -> None:
    proc = meshatlas(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert _one_error(proc).startswith(f"error: {said}")
    assert list(tmp_path.iterdir()) == []  # no catalogue, no output folder


def test_short_flags_and_comma_lists_select_namespaces(demo_mesh: Mesh, tmp_path: Path) -> None:
    kubeconfig = str(demo_mesh.kubeconfig)
    listed = meshatlas(
        "discover", "--kubeconfig", kubeconfig, "--dry-run", "--report", "-",
        "-n", "billing,platform", cwd=tmp_path,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr[-2000:]
    report = json.loads(listed.stdout)
    assert {s["namespace"] for s in report["services"]} == {"billing", "platform"}
    selected = meshatlas(
        "discover", "--kubeconfig", kubeconfig, "--dry-run", "--report", "-",
        "-n", "shop", "-l", "app=orders", cwd=tmp_path,
    )  # fmt: skip
    assert selected.returncode == 0, selected.stderr[-2000:]
    assert [s["name"] for s in json.loads(selected.stdout)["services"]] == ["orders"]


def test_an_unknown_variable_is_a_warning_naming_the_one_meant(
    demo_mesh: Mesh, tmp_path: Path
) -> None:
    proc = meshatlas(
        "discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--dry-run", "--report", "-",
        "--log-format", "text", cwd=tmp_path, env={"MESHATLAS_NAMESPCE": "billing"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (
        "warning: $MESHATLAS_NAMESPCE is not a meshatlas variable and is ignored;"
        " did you mean $MESHATLAS_NAMESPACE?"
    ) in proc.stderr
    # Ignored indeed: every namespace was read.
    assert {s["namespace"] for s in json.loads(proc.stdout)["services"]} > {"billing"}
    known = meshatlas("version", cwd=tmp_path, env={"MESHATLAS_NAMESPACE": "shop"})
    assert known.returncode == 0 and known.stderr == ""


def test_the_variables_meshatlas_reads_are_the_ones_it_knows() -> None:
    from meshatlas.commands import serve
    from meshatlas.interface import config
    from meshatlas.job import publishing

    known = config.known_variables()
    assert {publishing.TOKEN_ENV, serve.HASHES_ENV, config.CONFIG_ENV} <= known
    parser = config.subparser(cli.build_parser(), "discover")
    assert {config.variable(key) for key in config.settings(parser)} <= known
    assert config.unknown_variables({"MESHATLAS_CATALGO": "x", "HOME": "/"}) == [
        "$MESHATLAS_CATALGO is not a meshatlas variable and is ignored;"
        " did you mean $MESHATLAS_CATALOG?"
    ]


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_log_level_hides_what_is_below_it(how: str, demo_mesh: Mesh, tmp_path: Path) -> None:
    argv = ["discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--dry-run", "-n", "billing"]
    argv += ["--log-format", "text"]
    shown = meshatlas(*argv, "--log-level", "debug", cwd=tmp_path)
    assert shown.returncode == 0 and "probed 4/4 services" in shown.stderr
    # Off a terminal progress is a debug matter: a pipe or a CronJob log gets none.
    default = meshatlas(*argv, cwd=tmp_path)
    assert default.returncode == 0 and "probed" not in default.stderr
    if how == "flag":
        quiet = meshatlas(*argv, "--log-level", "warning", cwd=tmp_path)
    else:
        quiet = meshatlas(*argv, cwd=tmp_path, env={"MESHATLAS_LOG_LEVEL": "warning"})
    assert quiet.returncode == 0
    assert "probed" not in quiet.stderr
    assert "billing/invoice-ws" in quiet.stdout  # the command's own output stays
    bad = meshatlas("version", cwd=tmp_path, env={"MESHATLAS_LOG_LEVEL": "loud"})
    assert bad.returncode == 2 and "$MESHATLAS_LOG_LEVEL: 'loud' is not one of" in bad.stderr


def _bash_complete(script: Path, words: list[str]) -> list[str]:
    """What bash proposes for the last of ``words`` (an empty one: after a space)."""
    program = "\n".join(
        [
            f"source {shlex.quote(str(script))}",
            f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})",
            f"COMP_CWORD={len(words) - 1}",
            "_meshatlas",
            'printf "%s\\n" "${COMPREPLY[@]}"',
        ]
    )
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return [line for line in done.stdout.splitlines() if line]


def test_bash_completion_follows_the_parser(tmp_path: Path) -> None:
    proc = meshatlas("completion", "bash", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    script = tmp_path / "meshatlas.bash"
    script.write_text(proc.stdout)
    assert _bash_complete(script, ["meshatlas", "dis"]) == ["discover"]
    assert _bash_complete(script, ["meshatlas", "--log-level", "debug", "gr"]) == ["graph"]
    assert _bash_complete(script, ["meshatlas", "discover", "--kubec"]) == ["--kubeconfig"]
    assert set(_bash_complete(script, ["meshatlas", "discover", "--log-format", ""])) == {
        "auto",
        "text",
        "json",
    }
    assert set(_bash_complete(script, ["meshatlas", "discover", "--fail-on", ""])) == set(
        outcome.FAIL_ON
    )
    flags = _bash_complete(script, ["meshatlas", "discover", "-"])
    assert {"-n", "--namespace", "-l", "--selector", "--fail-on", "--log-level"} <= set(flags)
    assert "--kube" not in flags
    assert set(_bash_complete(script, ["meshatlas", "export", ""])) == {
        "backstage",
        "exchange",
        "openapi",
        "wsdl",
        "graphql",
        "proto",
        "asyncapi",
        "portal",
    }
    assert set(_bash_complete(script, ["meshatlas", "completion", ""])) == {"bash", "zsh", "fish"}


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completion_follows_the_parser(tmp_path: Path) -> None:
    proc = meshatlas("completion", "fish", cwd=tmp_path)
    script = tmp_path / "meshatlas.fish"
    script.write_text(proc.stdout)

    def complete(line: str) -> list[str]:
        done = subprocess.run(
            ["fish", "--no-config", "-c", f"source {script}; complete -C {shlex.quote(line)}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
            env=_env(tmp_path),
        )
        return [row.split("\t")[0] for row in done.stdout.splitlines()]

    assert complete("meshatlas dis") == ["discover"]
    assert "--kubeconfig" in complete("meshatlas discover --kubec")
    assert set(complete("meshatlas discover --log-format ")) == {"auto", "text", "json"}
    assert {"backstage", "portal"} <= set(complete("meshatlas export "))


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completion_is_a_valid_script(tmp_path: Path) -> None:
    proc = meshatlas("completion", "zsh", cwd=tmp_path)
    assert proc.stdout.startswith("#compdef meshatlas\n")
    script = tmp_path / "_meshatlas"
    script.write_text(proc.stdout)
    subprocess.run(["zsh", "-n", str(script)], check=True, timeout=30)
    # Loaded the way compinit loads it, the function defines itself and registers.
    program = f"autoload -U compinit && compinit -u && source {script} && echo $_comps[meshatlas]"
    done = subprocess.run(
        ["zsh", "-f", "-c", program], capture_output=True, text=True, timeout=30, env=_env(tmp_path)
    )
    assert done.stdout.strip() == "_meshatlas", done.stderr


# --- failing fast ---------------------------------------------------------------


def _kubeconfig(path: Path, servers: dict[str, str]) -> Path:
    """A kubeconfig with one context per ``name: server``, the first current."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": s}} for n, s in servers.items()],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": n, "user": "u"}} for n in servers],
        "current-context": next(iter(servers)),
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def _refusals(tmp: Path, kubeconfig: str) -> dict[str, tuple[list[str], str]]:
    """Case name -> (discover arguments, what the one error line says)."""
    k = ["--kubeconfig", kubeconfig]
    return {
        "catalogue scheme": (
            [*k, "--catalog", "mysql://db/x"],
            "--catalog must be sqlite:///PATH, postgresql://USER@HOST/DB or http(s)://HOST",
        ),
        "catalogue folder missing": (
            [*k, "--catalog", f"sqlite:///{tmp}/no-such-folder/c.db"],
            f"the catalogue cannot be created: {tmp}/no-such-folder does not exist",
        ),
        "catalogue under a file": (
            [*k, "--catalog", f"sqlite:///{tmp}/a-file/c.db"],
            f"the catalogue cannot be created: {tmp}/a-file is not a directory",
        ),
        "sqlite two slashes": ([*k, "--catalog", "sqlite://c.db"], "three slashes"),
        "group id": (
            [*k, "--group-id", "Team_A"],
            "--group-id: 'Team_A' must be 1-128 lowercase letters",
        ),
        "out is a file": (
            [*k, "--out", f"{tmp}/a-file"],
            f"--out {tmp}/a-file is a file; give a directory",
        ),
        "out under a file": ([*k, "--out", f"{tmp}/a-file/out"], "is not a directory"),
        "report is a folder": (
            [*k, "--report", f"{tmp}/report-dir"],
            f"--report {tmp}/report-dir is a directory",
        ),
        "kubeconfig passwd": (
            ["--kubeconfig", "/etc/passwd"],
            "--kubeconfig /etc/passwd is not a kubeconfig (it has no clusters, contexts or users)",
        ),
        "kubeconfig not yaml": (
            ["--kubeconfig", f"{tmp}/notes.txt"],
            f"--kubeconfig {tmp}/notes.txt is not a kubeconfig: not YAML",
        ),
        "kubeconfig missing": (
            ["--kubeconfig", f"{tmp}/nope"],
            f"--kubeconfig {tmp}/nope: no such file",
        ),
        "no kubeconfig at all": ([], "no kubeconfig: "),
        "context": (
            [*k, "--context", "dmeo"],
            "--context 'dmeo': no such context in",
        ),
        "in-cluster and kubeconfig": (
            [*k, "--in-cluster"],
            "--in-cluster reads the Pod's ServiceAccount, --kubeconfig a kubeconfig",
        ),
        "namespace name": ([*k, "-n", "shop,Billing"], "'Billing' is not a namespace name"),
        "fail-on": ([*k, "--fail-on", "warnings"], "argument --fail-on: invalid choice"),
    }


@pytest.mark.parametrize("case", sorted(_refusals(Path("/tmp"), "kubeconfig")))
def test_a_bad_setting_is_one_line_and_nothing_is_touched(
    case: str, demo_mesh: Mesh, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "report-dir").mkdir()
    (tmp_path / "notes.txt").write_text("clusters: [this is: not YAML\n")
    args, said = _refusals(tmp_path, str(demo_mesh.kubeconfig))[case]
    before = set(tmp_path.rglob("*"))
    untouched = _Untouched(demo_mesh)
    catalogue = tmp_path / "catalog.db"
    argv = ["discover", "--catalog", f"sqlite:///{catalogue}", "--report", f"{tmp_path}/r.json"]
    proc = meshatlas(*argv, *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert said in _one_error(proc)
    untouched.check()
    assert set(tmp_path.rglob("*")) == before  # no catalogue, no report, no folder


def test_the_context_meant_is_named(demo_mesh: Mesh, tmp_path: Path) -> None:
    proc = meshatlas("discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--context", "dmeo",
                     "--dry-run", cwd=tmp_path)  # fmt: skip
    assert _one_error(proc).endswith("(it has: demo); did you mean 'demo'?")


def _without_privileges() -> list[str]:
    """A command prefix under which this user cannot write a read-only folder.

    root writes anywhere; root without capabilities keeps only its owner's
    permission bits, which a ``chmod 555`` folder denies.
    """
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux) to drop capabilities")
    return ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]


def test_an_unwritable_out_is_refused(demo_mesh: Mesh, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    untouched = _Untouched(demo_mesh)
    proc = subprocess.run(
        [*_without_privileges(), str(BIN), "discover", "--kubeconfig", str(demo_mesh.kubeconfig),
         "--dry-run", "--out", f"{locked}/graphs"],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    line = _one_error(proc)
    assert f"--out {locked}/graphs: cannot write there: {locked} is not writable" in line
    untouched.check()
    assert list(locked.iterdir()) == []


def test_an_api_server_that_refuses_is_said_as_kubectl_says_it(tmp_path: Path) -> None:
    port = free_port()
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", {"dead": f"https://127.0.0.1:{port}"})
    catalogue = tmp_path / "catalog.db"
    proc = meshatlas(
        "discover", "--kubeconfig", str(kubeconfig), "--catalog", f"sqlite:///{catalogue}",
        "--log-format", "text", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1  # could not do its job; a retry may
    assert _one_error(proc) == (
        f"error: cluster 'dead': the connection to the server 127.0.0.1:{port} was refused"
        " - did you specify the right host or port?"
    )
    assert not catalogue.exists()


def test_one_cluster_that_refuses_beside_one_that_answers_is_a_partial_run(
    demo_mesh: Mesh, tmp_path: Path
) -> None:
    port = free_port()
    live = yaml.safe_load(demo_mesh.kubeconfig.read_text())
    both = _kubeconfig(
        tmp_path / "kubeconfig",
        {"demo": live["clusters"][0]["cluster"]["server"], "dead": f"http://127.0.0.1:{port}"},
    )
    doc = yaml.safe_load(both.read_text())
    doc["users"] = [{"name": "u", "user": {"token": live["users"][0]["user"]["token"]}}]
    both.write_text(yaml.safe_dump(doc))
    proc = meshatlas(
        "discover", "--kubeconfig", str(both), "--context", "demo", "--context", "dead",
        "--dry-run", "--report", "-", "-n", "billing", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["outcome"] == "partial"
    (problem,) = report["problems"]
    assert problem["where"] == f"dead: http://127.0.0.1:{port}"
    assert "was refused - did you specify the right host or port?" in problem["why"]
    assert {s["cluster"] for s in report["services"]} == {"demo"}


def test_probe_checks_the_kubeconfig_and_the_api_server_too(tmp_path: Path) -> None:
    passwd = meshatlas("probe", "--service", "shop/orders", "--kubeconfig", "/etc/passwd",
                       cwd=tmp_path)  # fmt: skip
    assert passwd.returncode == 2
    assert "--kubeconfig /etc/passwd is not a kubeconfig" in _one_error(passwd)
    port = free_port()
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", {"dead": f"https://127.0.0.1:{port}"})
    dead = meshatlas("probe", "--service", "shop/orders", "--kubeconfig", str(kubeconfig),
                     cwd=tmp_path)  # fmt: skip
    assert dead.returncode == 1
    assert f"the connection to the server 127.0.0.1:{port} was refused" in _one_error(dead)


def test_postgres_urls_are_taken_as_libpq_takes_them(
    demo_mesh: Mesh, postgres_server: Any, tmp_path: Path
) -> None:
    url = postgres_server.new_database().replace("postgresql://", "postgres://", 1)
    proc = meshatlas(
        "discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--catalog", url, "-n", "billing",
        "--report", "-", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["catalog"].startswith("postgresql://")
    with catalog.open_store(url.replace("postgres://", "postgresql://", 1)) as store:
        assert len(store.list_assets()) == report["stats"]["apis"] == 4


def test_a_database_that_does_not_answer_stops_the_run_before_probing(
    demo_mesh: Mesh, tmp_path: Path
) -> None:
    untouched = _Untouched(demo_mesh)
    url = f"postgres://meshatlas@127.0.0.1:{free_port()}/catalog"
    proc = meshatlas(
        "discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--catalog", url,
        "--log-format", "json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1
    (line,) = [json.loads(line) for line in proc.stderr.splitlines()]  # one log line, JSON
    assert line["level"] == "error"
    assert line["msg"].startswith("--catalog postgresql://meshatlas@127.0.0.1:")
    assert "the catalogue cannot be opened" in line["msg"] and "Connection refused" in line["msg"]
    assert "\n" not in line["msg"]
    assert demo_mesh.backend_requests() == untouched.backends


def test_export_never_creates_a_catalogue_from_a_mistyped_path(tmp_path: Path) -> None:
    typo = tmp_path / "catalgo.db"
    proc = meshatlas(
        "export", "openapi", "--catalog", f"sqlite:///{typo}", "--out", f"{tmp_path}/specs",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"no catalogue at {typo}; check the path" in _one_error(proc)
    assert list(tmp_path.iterdir()) == []
    default = meshatlas("graph", cwd=tmp_path)
    assert default.returncode == 2
    assert "--catalog (default) sqlite:///meshatlas.db: no catalogue at meshatlas.db" in (
        _one_error(default)
    )
    assert list(tmp_path.iterdir()) == []


def test_export_and_graph_read_the_catalogue_the_environment_names(
    demo_catalog: dict[str, Any], tmp_path: Path
) -> None:
    env = {"MESHATLAS_CATALOG": demo_catalog["url"]}
    exported = meshatlas("export", "openapi", "--out", "specs", cwd=tmp_path, env=env)
    assert exported.returncode == 0, exported.stderr
    assert len(list((tmp_path / "specs").rglob("*.json"))) >= 5
    graphed = meshatlas("graph", "-o", "json", cwd=tmp_path, env=env)
    assert graphed.returncode == 0, graphed.stderr
    nodes = {n["id"] for n in json.loads(graphed.stdout)["nodes"]}
    assert "demo/shop/orders" in nodes
    missing = {"MESHATLAS_CATALOG": f"sqlite:///{tmp_path}/gone.db"}
    refused = meshatlas("graph", cwd=tmp_path, env=missing)
    assert refused.returncode == 2
    assert _one_error(refused).startswith(f"error: $MESHATLAS_CATALOG sqlite:///{tmp_path}/gone.db")
    assert not (tmp_path / "gone.db").exists()


# --- exit codes -------------------------------------------------------------------


@pytest.fixture(scope="module")
def stuck_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """An answering Service beside one whose port accepts and never answers."""
    octet = mesh_octet(offset=41)
    stuck, orders = f"127.{octet}.1.10", f"127.{octet}.1.11"
    docs = [
        manifests.namespace("w"),
        *manifests.service_at("w", "stuck", stuck, [8080]),
        *manifests.service_at("w", "orders", orders, [8000]),
    ]
    backends = [
        Backend("w/stuck", stuck, 8080, "blackhole"),
        Backend(
            "w/orders", orders, 8000, "fastapi", spec=SPECS_DIR / "openapi/3.1/orders-fastapi.json"
        ),
    ]
    workdir = tmp_path_factory.mktemp("stuck")
    generated = {"w": docs}
    with Mesh(
        ["w"], octet=octet, workdir=workdir, generated=generated, generated_backends={"w": backends}
    ) as mesh:
        yield mesh


def test_a_service_that_does_not_answer_does_not_fail_the_run(
    stuck_mesh: Mesh, tmp_path: Path
) -> None:
    catalogue = tmp_path / "catalog.db"
    proc = meshatlas(
        "discover", "--kubeconfig", str(stuck_mesh.kubeconfig), "--catalog",
        f"sqlite:///{catalogue}", "--timeout", "1", "--report", "report.json",
        "--log-format", "text", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["outcome"] == "complete"
    assert [p["where"] for p in report["problems"]] == ["w/w/stuck:8080"]
    assert "problem: w/w/stuck:8080" in proc.stdout
    with catalog.open_store(f"sqlite:///{catalogue}") as store:
        assert [a.asset_id for a in store.list_assets()] == ["w-orders"]


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_fail_on_problems_makes_it_fail(how: str, stuck_mesh: Mesh, tmp_path: Path) -> None:
    argv = ["discover", "--kubeconfig", str(stuck_mesh.kubeconfig), "--dry-run", "--timeout", "1"]
    argv += ["--report", "-"]
    if how == "flag":
        proc = meshatlas(*argv, "--fail-on=problems", cwd=tmp_path)
    else:
        proc = meshatlas(*argv, cwd=tmp_path, env={"MESHATLAS_FAIL_ON": "problems"})
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["outcome"] == "complete"  # what happened is the same


def test_a_source_that_fails_is_partial_unless_asked_otherwise(
    demo_mesh: Mesh, tmp_path: Path
) -> None:
    argv = ["discover", "--kubeconfig", str(demo_mesh.kubeconfig), "--dry-run", "-n", "shop"]
    argv += ["--report", "-"]
    state = demo_mesh.state("demo")
    state.forbidden = frozenset({"virtualservices"})
    try:
        partial = meshatlas(*argv, cwd=tmp_path)
        lenient = meshatlas(*argv, "--fail-on", "error", cwd=tmp_path)
    finally:
        state.forbidden = frozenset()
    assert partial.returncode == 3, partial.stderr[-2000:]
    assert lenient.returncode == 0, lenient.stderr[-2000:]
    for proc in (partial, lenient):
        report = json.loads(proc.stdout)
        assert report["outcome"] == "partial"
        assert "virtualservices" in report["problems"][0]["what"]


def test_ctrl_c_prints_the_report_so_far_publishes_nothing_and_exits_130(
    stuck_mesh: Mesh, tmp_path: Path
) -> None:
    catalogue = tmp_path / "catalog.db"
    argv = ["discover", "--kubeconfig", str(stuck_mesh.kubeconfig), "--timeout", "60"]
    argv += ["--catalog", f"sqlite:///{catalogue}", "--report", "report.json"]
    # Debug lines say how far probing got (off a terminal there is no other progress).
    argv += ["--log-format", "text", "--log-level", "debug"]
    with subprocess.Popen(
        [str(BIN), *argv],
        cwd=tmp_path,
        env=_env(tmp_path),
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stderr is not None and child.stdout is not None
        try:
            # Once the answering Service is done the other one is being waited on.
            for line in child.stderr:
                if line.startswith("probed 1/2 services"):
                    break
            child.send_signal(signal.SIGINT)
            rest = child.stderr.read()
            shown = child.stdout.read()
            assert child.wait(timeout=60) == ExitCode.INTERRUPTED == 130
        finally:
            child.kill()
    assert "Traceback" not in rest
    assert (
        "error: interrupted: 1 of 2 Services probed, 1 not (w/w/stuck); nothing was published;"
        " the report so far: report.json"
    ) in rest
    assert "w/orders" in shown and "problem: w/w/stuck: not probed" in shown
    report = json.loads((tmp_path / "report.json").read_text())
    jsonschema.validate(
        report, json.loads((ROOT / "meshatlas/schemas/report.schema.json").read_text())
    )
    assert report["outcome"] == "partial"
    assert [s["name"] for s in report["services"]] == ["orders"]
    assert report["services"][0]["apis"][0]["spec"]["version"] == "3.1.0"  # orders-fastapi.json
    assert report["services"][0]["apis"][0]["asset"]["outcome"] == "not-published"
    problems = {(p["where"], p["what"]) for p in report["problems"]}
    assert problems == {("meshatlas discover", "interrupted"), ("w/w/stuck", "not probed")}
    with catalog.open_store(f"sqlite:///{catalogue}") as store:
        assert store.list_assets() == []  # nothing half-made was published


def test_the_readme_lists_every_exit_code() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    listed = {int(code) for code in re.findall(r"^\| `(\d+)` \|", section, re.M)}
    assert listed == {int(c) for c in ExitCode}
    for choice in outcome.FAIL_ON:
        assert f"--fail-on {choice}" in section or f"`{choice}`" in section
    cron = yaml.safe_load((ROOT / "deploy/base/cronjob.yaml").read_text())
    rules = cron["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    failing = {v for r in rules if r["action"] == "FailJob" for v in r["onExitCodes"]["values"]}
    # A Service that does not answer leaves the code at 0: it must never fail the Job.
    assert ExitCode.COMPLETE not in failing and failing == {ExitCode.USAGE, ExitCode.PARTIAL}
