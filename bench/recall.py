"""Recall benchmark: what meshatlas finds on the real framework zoo, and what it costs.

Starts the zoo (``fixtures/zoo``: small apps on real frameworks, default
documentation settings; ``make zoo`` installs them), reads from each app
what it really serves, then runs ``meshatlas discover`` cold and warm into a
throwaway SQLite catalogue and prints, per Service: the framework, the truth,
what was found, and the requests it cost cold and warm. The imitation
cluster (frameworks no registry here has) is measured too when present.

    python bench/recall.py              # table
    python bench/recall.py --json FILE  # and the figures as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from fixtures.mesh import CLUSTERS_DIR, Mesh  # noqa: E402
from fixtures.zoo import Zoo  # noqa: E402
from meshatlas.cli import main  # noqa: E402

ZOO_OCTET = 60


def _found(service: dict[str, Any]) -> tuple[Any, ...] | None:
    if not service["apis"]:
        return None
    api = service["apis"][0]
    spec = api["spec"]
    if spec is None:
        return (api["kind"], None, None, None)
    return (api["kind"], spec["format"], spec["version"], spec["operation_count"])


def _expected_imitations() -> dict[str, tuple[Any, ...]]:
    path = CLUSTERS_DIR / "imitations" / "expected.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text())
    entries = data.get("services", data) if isinstance(data, dict) else {}
    out: dict[str, tuple[Any, ...]] = {}
    for key, e in entries.items():
        out[f"imitations/{key}"] = (
            e["kind"],
            e.get("format"),
            None if e.get("format") is None else str(e.get("spec_version")),
            e.get("operations") if e.get("format") else None,
        )
    return out


def run(tmp: Path) -> dict[str, Any]:
    with Zoo(ZOO_OCTET, tmp / "zoo") as zoo:
        truth: dict[str, tuple[Any, ...]] = {}
        labels: dict[str, str] = {}
        for placement in zoo.placements:
            t = zoo.truth[placement.app.key]
            described = t.format in ("openapi", "swagger", "wsdl")
            truth[f"zoo/{placement.app.key}"] = (
                t.kind,
                t.format if described else None,
                t.spec_version if described else None,
                t.operations if described else None,
            )
            labels[f"zoo/{placement.app.key}"] = placement.app.framework
        imitated = _expected_imitations()
        truth.update(imitated)
        clusters = ["zoo"] + (["imitations"] if imitated else [])
        with Mesh(
            clusters,
            octet=ZOO_OCTET + 1,
            workdir=tmp / "mesh",
            generated={"zoo": zoo.manifests()},
            generated_backends={"zoo": []},
        ) as mesh:
            argv = ["discover", "--kubeconfig", str(mesh.kubeconfig), "--log-format", "json"]
            argv += ["--catalog", f"sqlite:///{tmp / 'catalog.db'}"]
            for context in clusters:
                argv += ["--context", context]
            reports = {}
            for name in ("cold", "warm"):
                main([*argv, "--report", str(tmp / f"{name}.json")])
                reports[name] = {
                    f"{s['cluster']}/{s['namespace']}/{s['name']}": s
                    for s in json.loads((tmp / f"{name}.json").read_text())["services"]
                }
    rows = []
    for key in sorted(truth):
        cold, warm = reports["cold"].get(key), reports["warm"].get(key)
        got = _found(cold) if cold else None
        spec_url = (cold or {}).get("apis", [{}])[0].get("spec") if cold and cold["apis"] else None
        rows.append(
            {
                "service": key,
                "framework": labels.get(key, "imitation"),
                "truth": truth[key],
                "found": got,
                "ok": got == truth[key],
                "where": urlsplit(spec_url["url"]).path if spec_url else None,
                "cold_requests": cold["requests"] if cold else None,
                "warm_requests": warm["requests"] if warm else None,
            }
        )
    return {"rows": rows}


def _print(result: dict[str, Any]) -> None:
    rows = result["rows"]
    print(f"{'service':42} {'found':28} {'ok':3} {'cold':>4} {'warm':>4}  where")
    for r in rows:
        found = r["found"]
        shown = "-" if found is None else " ".join(str(x) for x in found if x is not None)
        print(
            f"{r['service']:42} {shown:28} {'yes' if r['ok'] else 'NO':3} "
            f"{r['cold_requests'] or 0:4} {r['warm_requests'] or 0:4}  {r['where'] or ''}"
        )
    ok = sum(r["ok"] for r in rows)
    described = [r for r in rows if r["truth"][1] is not None]
    cold = [r["cold_requests"] or 0 for r in rows]
    warm = [r["warm_requests"] or 0 for r in rows]
    print()
    print(f"classified right:      {ok} of {len(rows)}")
    print(
        f"descriptions found:    {sum(r['ok'] for r in described)} of {len(described)}"
        " (format, version and operation count as served)"
    )
    described_cold = sum(r["cold_requests"] or 0 for r in described) / len(described)
    print(
        f"cold requests/Service: mean {sum(cold) / len(cold):.1f}, max {max(cold)};"
        f" described ones mean {described_cold:.1f}"
    )
    print(f"warm requests/Service: mean {sum(warm) / len(warm):.2f}, max {max(warm)}")


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="meshatlas-recall-") as tmp:
        result = run(Path(tmp))
    _print(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if all(r["ok"] for r in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(cli())
