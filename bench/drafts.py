"""Synthetic catalogue drafts for the benchmarks: each asset with its own description."""

from __future__ import annotations

import json
from pathlib import Path

import catalog

SPEC = Path(__file__).resolve().parent.parent / "fixtures/specs/openapi/3.0/catalog-springdoc.json"


def drafts(n: int) -> list[catalog.AssetDraft]:
    base = json.loads(SPEC.read_text())
    out = []
    for i in range(n):
        base["info"]["title"] = f"Service {i:05d} API"
        content = json.dumps(base).encode()  # unique content per asset, as in a real cluster
        ns = f"team-{i % 50:02d}"
        out.append(
            catalog.AssetDraft(
                group_id="bench",
                asset_id=f"{ns}-svc-{i:05d}",
                name=f"Service {i:05d} API",
                type="rest-api" if i % 10 else "soap-api",
                description=f"Synthetic asset {i} for the catalogue benchmark",
                spec_version_hint=None,
                files=(catalog.AssetFile(classifier="oas", packaging="json", content=content),),
                operations=(f"GET /api/v1/items{i % 7}", f"POST /api/v1/items{i % 7}"),
                tags=(ns, "bench"),
                owner=f"team-{i % 13}",
                lifecycle=None,
                instance=catalog.Instance(
                    cluster="bench",
                    namespace=ns,
                    service=f"svc-{i:05d}",
                    port=8080,
                    endpoint_uri=f"http://svc-{i:05d}.{ns}.svc.cluster.local:8080",
                ),
                dependencies=(),
                provenance=catalog.Provenance(method="probe", detail="http://x/v3/api-docs"),
            )
        )
    return out
