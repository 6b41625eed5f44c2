"""The catalogue server's Backstage location: filters, and one document per namespace.

``GET /meshatlas/api/v1/backstage/catalog-info.yaml`` answers, by its query:

* no ``namespace`` and no ``part``: a ``Location`` entity whose targets are
  this same URL with ``part=groups`` (the owners) and with
  ``namespace=<ns>`` for each namespace, the other filters kept, so
  Backstage reads one namespace per document;
* ``namespace=<ns>``: that namespace's System, APIs and Components;
* ``part=groups``: the Groups and Users the entities name as owners;
* ``layout=single``: every entity in one document (small catalogues).

The filters ``cluster``, ``lifecycle`` and ``owner`` narrow the assets
first; the entities are built from what is left, so no reference points at
an entity the location leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final
from urllib.parse import urlencode

from catalog.errors import InvalidAsset
from catalog.exports import backstage
from catalog.exports.backstage import BackstageOptions
from catalog.model import LIFECYCLES, Asset

__all__ = ["PARAMETERS", "answer", "select"]

PARAMETERS: Final = ("namespace", "cluster", "lifecycle", "owner", "part", "layout")


def select(
    assets: Sequence[Asset],
    *,
    namespace: str | None = None,
    cluster: str | None = None,
    lifecycle: str | None = None,
    owner: str | None = None,
    options: BackstageOptions | None = None,
) -> list[Asset]:
    """The assets with an instance in ``namespace``/``cluster``, of that lifecycle and owner.

    ``owner`` matches the catalogue's owner as written (``team-catalog``) or
    as the entities name it (``group:team-catalog``; the default owner for
    assets without one).
    """
    options = options or BackstageOptions()
    kept = []
    for asset in assets:
        instances = [i for v in asset.versions for i in v.instances]
        if namespace and not any(i.namespace == namespace for i in instances):
            continue
        if cluster and not any(i.cluster == cluster for i in instances):
            continue
        if lifecycle and asset.lifecycle != lifecycle:
            continue
        if owner and owner not in (asset.owner, backstage.owner_ref(asset.owner, options)):
            continue
        kept.append(asset)
    return kept


def answer(
    query: Mapping[str, str],
    assets: Sequence[Asset],
    *,
    location_url: str,
    options: BackstageOptions | None = None,
) -> str:
    """The YAML the location serves for ``query`` (see the module docstring).

    Args:
        query: The request's query parameters.
        assets: Every asset of the catalogue.
        location_url: This location's absolute URL without a query, for the targets.
        options: How entities are shaped.

    Raises:
        InvalidAsset: An unknown parameter, lifecycle, ``part`` or ``layout``.
    """
    unknown = sorted(set(query) - set(PARAMETERS))
    if unknown:
        raise InvalidAsset(unknown[0], "is not a known query parameter")
    lifecycle = query.get("lifecycle") or None
    if lifecycle is not None and lifecycle not in LIFECYCLES:
        raise InvalidAsset("lifecycle", f"must be one of {', '.join(sorted(LIFECYCLES))}")
    part = query.get("part") or None
    if part not in (None, "groups"):
        raise InvalidAsset("part", "must be groups")
    layout = query.get("layout") or "split"
    if layout not in ("split", "single"):
        raise InvalidAsset("layout", "must be split or single")
    options = options or BackstageOptions()
    kept = select(
        assets,
        options=options,
        cluster=query.get("cluster") or None,
        lifecycle=lifecycle,
        owner=query.get("owner") or None,
    )
    found = backstage.entities(kept, options=options)
    if layout == "single":
        return backstage.to_yaml(found)
    parts = backstage.partition(found)
    namespace = query.get("namespace") or None
    if part == "groups":
        return backstage.to_yaml(parts[backstage.GROUPS_PART])
    if namespace is not None:
        return backstage.to_yaml(parts.get(namespace, []))
    filters = {k: query[k] for k in ("cluster", "lifecycle", "owner") if query.get(k)}
    targets = [_url(location_url, {**filters, "part": "groups"})]
    targets += [
        _url(location_url, {**filters, "namespace": ns})
        for ns in sorted(p for p in parts if p != backstage.GROUPS_PART)
    ]
    return backstage.to_yaml([backstage.location("meshatlas", targets, type="url")])


def _url(base: str, params: Mapping[str, str]) -> str:
    return f"{base}?{urlencode(sorted(params.items()))}"
