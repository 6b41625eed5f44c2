"""The assets' dependency graph as an SVG picture whose nodes link to API pages.

Drawn with Graphviz's ``dot`` (the ``graph`` package's exports draw the
service graph; this one draws catalogued assets and lives here to keep the
catalogue free of ``graph`` imports). Only asset ids and types, which the
catalogue validates to ``[a-z0-9.-]``, reach the DOT source.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from typing import Final

from catalog.model import Asset, AssetSummary

__all__ = ["to_dot", "to_svg"]

_COLORS: Final = {
    "rest-api": "#dbeafe",
    "soap-api": "#fef3c7",
    "http-api": "#e5e7eb",
    "grpc-api": "#dcfce7",
    "graphql-api": "#fce7f3",
}


def to_dot(
    assets: Sequence[Asset | AssetSummary], *, href: Callable[[Asset | AssetSummary], str]
) -> str:
    """DOT source: namespaces as boxes, assets as nodes with ``URL`` = ``href(asset)``."""
    keys = {f"{a.group_id}:{a.asset_id}": a for a in assets}
    lines = [
        "digraph assets {",
        '  graph [rankdir=TB, nodesep=0.3, ranksep=0.45, fontname="Helvetica", fontsize=11,'
        ' bgcolor="transparent"];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '  edge [color="#64748b", arrowsize=0.7];',
    ]
    by_namespace: dict[str, list[str]] = {}
    for key, asset in sorted(keys.items()):
        instances = asset.latest.instances
        by_namespace.setdefault(instances[0].namespace if instances else "", []).append(key)
    for index, (namespace, members) in enumerate(sorted(by_namespace.items())):
        indent = "  "
        if namespace:
            lines.append(f"  subgraph cluster_{index} {{")
            lines.append(f'    label="{_safe(namespace)}"; style="rounded"; color="#94a3b8";')
            indent = "    "
        for key in members:
            asset = keys[key]
            label = f"{_safe(asset.asset_id)}\\n{_safe(asset.type)} {_safe(asset.latest.version)}"
            lines.append(
                f'{indent}"{_safe(key)}" [label="{label}", URL="{_safe(href(asset))}",'
                f' target="_top", tooltip="{_safe(key)}", id="node-{_safe(asset.asset_id)}",'
                f' fillcolor="{_COLORS.get(asset.type, "#ffffff")}"];'
            )
        if namespace:
            lines.append("  }")
    for key, asset in sorted(keys.items()):
        for dependency in asset.latest.dependencies:
            target = ":".join(dependency.split(":")[:2])
            if target not in keys:
                lines.append(f'  "{_safe(target)}" [style="dashed", fillcolor="#ffffff"];')
            lines.append(f'  "{_safe(key)}" -> "{_safe(target)}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(dot: str, *, dot_binary: str = "dot", timeout: float = 60.0) -> str | None:
    """Render DOT to an inline ``<svg>`` element; None when Graphviz is missing or fails."""
    binary = shutil.which(dot_binary)
    if binary is None:
        return None
    try:
        done = subprocess.run(
            [binary, "-Tsvg"],
            input=dot.encode(),
            capture_output=True,
            timeout=timeout,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    svg = done.stdout.decode("utf-8", "replace")
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else None


def _safe(text: str) -> str:
    # Ids are validated already; drop anything that could end a DOT string anyway.
    return re.sub(r'["\\\n\r<>&]', "", text)
