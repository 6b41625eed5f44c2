"""Runs judged Service by Service, and stale instances, on SQLite and PostgreSQL.

Store-level: drafts are published as a crawl publishes them (``seen_at`` = the
run's start), then each run is recorded with what it could tell of each
Service (:class:`catalog.model.RunCoverage`). The same through a real
catalogue server, over :class:`catalog.HttpTarget`, at the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

import catalog
from catalog import AssetDraft, CatalogStore, Instance, InvalidAsset, Provenance
from catalog.model import InstanceRef, RunCoverage
from catalog.remote import wire
from tests.test_serve import TOKEN, serving

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
GROUP = "acme"
E = "/exchange/api/v2/assets"


def at(run: int) -> datetime:
    return T0 + timedelta(hours=run)


def draft(asset_id: str, service: str, *, cluster: str = "east", port: int = 8080) -> AssetDraft:
    return AssetDraft(
        group_id=GROUP,
        asset_id=asset_id,
        name=asset_id,
        type="http-api",
        description=None,
        spec_version_hint=None,
        files=(),
        operations=(),
        tags=(),
        owner=None,
        lifecycle=None,
        instance=Instance(
            cluster=cluster,
            namespace="shop",
            service=service,
            port=port,
            endpoint_uri=f"http://{service}.shop.svc:{port}",
        ),
        dependencies=(),
        provenance=Provenance(method="probe", detail="JSON answers"),
    )


def svc(service: str, cluster: str = "east") -> tuple[str, str, str]:
    return (cluster, "shop", service)


def crawl(
    store: CatalogStore,
    run: int,
    drafts: Sequence[AssetDraft],
    *,
    answered: Sequence[str] = (),
    unsure: Sequence[str] = (),
    cluster: str = "east",
    **options: Any,
) -> catalog.RunSummary:
    """One run: publish what it saw at its start, then record what it could tell."""
    started = at(run)
    results = store.publish_many(list(drafts), seen_at=started)
    assert not [r for r in results if isinstance(r, Exception)]
    options.setdefault(
        "coverage",
        RunCoverage(
            answered=frozenset(svc(s, cluster) for s in answered),
            unsure=frozenset(svc(s, cluster) for s in unsure),
        ),
    )
    options.setdefault("clusters", [cluster])
    return store.record_run(
        group_id=GROUP,
        seen=[d.asset_id for d in drafts],
        started_at=started,
        finished_at=started + timedelta(minutes=1),
        **options,
    )


@pytest.fixture
def store(catalog_url: str) -> Iterator[CatalogStore]:
    with catalog.open_store(catalog_url) as opened:
        yield opened


def instances(store: CatalogStore, asset_id: str) -> dict[tuple[str, str, int], Instance]:
    """The asset's instances as the REST API's reads list them, by (cluster, service, port)."""
    described = store.describe(GROUP, asset_id, every=True)
    return {(i.cluster, i.service, i.port): i for v in described.versions for i in v.instances}


def lifecycle(store: CatalogStore, asset_id: str) -> str:
    return store.describe(GROUP, asset_id).asset.lifecycle


ORDERS = draft("shop-orders", "orders")
CART = draft("shop-cart", "cart")  # its Service goes silent
SEARCH = draft("shop-search", "search")  # its Service is deleted


def test_a_silent_service_holds_its_assets_while_a_vanished_one_is_deprecated(
    store: CatalogStore,
) -> None:
    crawl(store, 0, [ORDERS, CART, SEARCH], answered=["orders", "cart", "search"])
    store.set_lifecycle(GROUP, "shop-cart", status="stable")

    # From now on cart never answers and search is gone: every run has a problem.
    first = crawl(
        store, 1, [ORDERS], answered=["orders"], unsure=["cart"], deprecate_after=2, stale_after=2
    )
    second = crawl(
        store, 2, [ORDERS], answered=["orders"], unsure=["cart"], deprecate_after=2, stale_after=2
    )

    assert (first.counted, first.missed, first.deprecated) == (True, ("shop-search",), ())
    assert first.held == ("shop-cart",) and first.stale == ()
    assert (second.missed, second.deprecated, second.held) == (
        ("shop-search",),
        ("shop-search",),
        ("shop-cart",),
    )
    assert second.stale == (InstanceRef("shop-search", "east", "shop", "search", 8080),)
    assert lifecycle(store, "shop-search") == "deprecated"
    assert lifecycle(store, "shop-cart") == "stable"  # untouched, however long it is silent
    assert lifecycle(store, "shop-orders") == "development"
    (cart,) = instances(store, "shop-cart").values()
    assert (cart.stale, cart.last_seen) == (False, at(0))
    (search,) = instances(store, "shop-search").values()
    assert (search.stale, search.last_seen) == (True, at(0))
    # Nothing was deleted: the deprecated asset keeps its version and its instance.
    assert [v.version for v in store.get(GROUP, "shop-search").versions] == ["1.0.0"]

    # The silent Service answers again without cart: only now does cart count as missed.
    third = crawl(store, 3, [ORDERS], answered=["orders", "cart"], deprecate_after=2)
    assert third.missed == ("shop-cart", "shop-search") and third.held == ()
    assert lifecycle(store, "shop-cart") == "stable"  # one miss of two


def test_a_silent_run_between_misses_neither_resets_nor_adds(store: CatalogStore) -> None:
    crawl(store, 0, [ORDERS, CART], answered=["orders", "cart"])
    # Cart's Service answers without it, then is silent, then answers without it again.
    crawl(store, 1, [ORDERS], answered=["orders", "cart"], deprecate_after=2)
    held = crawl(store, 2, [ORDERS], answered=["orders"], unsure=["cart"], deprecate_after=2)
    last = crawl(store, 3, [ORDERS], answered=["orders", "cart"], deprecate_after=2)

    assert held.held == ("shop-cart",) and held.missed == ()
    assert last.deprecated == ("shop-cart",)  # the two misses around the silence add up


def test_an_instance_that_moved_away_goes_stale_and_its_asset_stays(store: CatalogStore) -> None:
    moved = dataclasses.replace(
        ORDERS, instance=dataclasses.replace(ORDERS.instance, service="orders-v2")
    )
    crawl(store, 0, [ORDERS], answered=["orders"])

    runs = [crawl(store, n, [moved], answered=["orders-v2"], stale_after=3) for n in (1, 2, 3)]

    assert [r.stale for r in runs] == [
        (),
        (),
        (InstanceRef("shop-orders", "east", "shop", "orders", 8080),),
    ]
    assert all(r.missed == () for r in runs)
    placed = instances(store, "shop-orders")
    assert placed[("east", "orders", 8080)].stale is True
    assert placed[("east", "orders", 8080)].last_seen == at(0)
    assert placed[("east", "orders-v2", 8080)].stale is False
    assert placed[("east", "orders-v2", 8080)].last_seen == at(3)
    assert lifecycle(store, "shop-orders") == "development"

    # Seen again: fresh at once (before any run says so), and its count starts over.
    store.publish(ORDERS, seen_at=at(4))
    assert instances(store, "shop-orders")[("east", "orders", 8080)].stale is False
    crawl(store, 5, [ORDERS, moved], answered=["orders", "orders-v2"], stale_after=3)
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT service, missed_sightings, stale_since FROM catalog_instances")
        ).all()
    assert sorted((service, missed, since) for service, missed, since in rows) == [
        ("orders", 0, None),
        ("orders-v2", 0, None),
    ]


def test_a_port_its_service_no_longer_serves_is_missed(store: CatalogStore) -> None:
    grpc = draft("shop-orders-grpc", "orders", port=9090)
    crawl(store, 0, [ORDERS, grpc], answered=["orders"])

    run = crawl(store, 1, [ORDERS], answered=["orders"], deprecate_after=1, stale_after=1)

    assert run.deprecated == ("shop-orders-grpc",)
    assert run.stale == (InstanceRef("shop-orders-grpc", "east", "shop", "orders", 9090),)
    assert lifecycle(store, "shop-orders") == "development"


@pytest.mark.parametrize(
    ("coverage", "options", "held"),
    [
        (RunCoverage(listed=False), {}, True),  # a label selector: absent is not gone
        (RunCoverage(unlisted=frozenset({("east", "shop")})), {}, True),  # its list was refused
        (RunCoverage(unsure=frozenset({svc("search")})), {}, True),  # listed, did not answer
        # Not where the run looked: not even held.
        (RunCoverage(excluded=frozenset({"shop"})), {}, False),  # --exclude-namespace shop
        (RunCoverage(), {"namespaces": ["billing"]}, False),  # another namespace
        (RunCoverage(), {"clusters": ["west"]}, False),  # another cluster
    ],
    ids=["selector", "unlisted", "unsure", "excluded", "other-namespace", "other-cluster"],
)
def test_a_service_the_run_could_not_judge_keeps_its_assets(
    store: CatalogStore, coverage: RunCoverage, options: dict[str, Any], held: bool
) -> None:
    crawl(store, 0, [ORDERS, SEARCH], answered=["orders", "search"])

    run = crawl(store, 1, [ORDERS], coverage=coverage, deprecate_after=1, stale_after=1, **options)

    assert (run.missed, run.deprecated, run.stale) == ((), (), ())
    assert run.held == (("shop-search",) if held else ())
    assert lifecycle(store, "shop-search") == "development"
    assert instances(store, "shop-search")[("east", "search", 8080)].stale is False


def test_an_asset_in_two_clusters_is_missed_once_each_place_is_missing_or_stale(
    store: CatalogStore,
) -> None:
    east, west = draft("shop-orders", "orders"), draft("shop-orders", "orders", cluster="west")
    store.publish_many([east, west], seen_at=at(0))

    # Gone from both clusters; each crawler reads only its own.
    held = crawl(store, 1, [], cluster="east", deprecate_after=1, stale_after=2)
    assert held.held == ("shop-orders",) and held.missed == ()  # west may still serve it
    crawl(store, 2, [], cluster="west", deprecate_after=1, stale_after=2)
    stale_west = crawl(store, 3, [], cluster="west", deprecate_after=1, stale_after=2)
    assert [r.service for r in stale_west.stale] == ["orders"]
    assert stale_west.held == ("shop-orders",)  # east's instance is not stale yet

    gone = crawl(store, 4, [], cluster="east", deprecate_after=1, stale_after=2)
    assert (gone.missed, gone.deprecated) == (("shop-orders",), ("shop-orders",))


def test_a_run_without_coverage_is_judged_as_a_whole(store: CatalogStore) -> None:
    crawl(store, 0, [ORDERS, SEARCH], answered=["orders", "search"])

    partial = crawl(store, 1, [ORDERS], coverage=None, complete=False, stale_after=1)
    complete = crawl(store, 2, [ORDERS], coverage=None, complete=True, stale_after=1)

    assert not partial.counted and partial.held == ("shop-search",) and partial.stale == ()
    assert complete.counted and complete.missed == ("shop-search",)
    assert [r.asset_id for r in complete.stale] == ["shop-search"]


def test_an_unchanged_run_writes_no_instance(store: CatalogStore) -> None:
    crawl(store, 0, [ORDERS, CART], answered=["orders", "cart"])
    store.publish_many([ORDERS, CART], seen_at=at(1))
    statements: list[str] = []

    def executed(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()).lower())

    event.listen(store.engine, "before_cursor_execute", executed)
    try:
        run = crawl(store, 1, [], answered=["orders", "cart"])
    finally:
        event.remove(store.engine, "before_cursor_execute", executed)
    assert run.missed == run.held == () and run.stale == ()
    assert not [s for s in statements if s.startswith(("update", "delete"))]
    assert sum(s.startswith("select") for s in statements) == 2  # assets, then instances


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"stale_after": 0}, "stale_after"),
        ({"stale_after": True}, "stale_after"),
        (
            {"coverage": RunCoverage(answered=frozenset({("east", "", "x")}))},
            "coverage.answered[0]",
        ),
        ({"coverage": RunCoverage(unlisted=frozenset({("east",)}))}, "coverage.unlisted[0]"),  # type: ignore[arg-type]
        ({"coverage": RunCoverage(excluded=frozenset({"a\x00"}))}, "coverage.excluded[0]"),
        ({"coverage": "all"}, "coverage"),
    ],
)
def test_record_run_refuses_a_bad_coverage(
    store: CatalogStore, changes: dict[str, Any], field: str
) -> None:
    arguments: dict[str, Any] = {
        "group_id": GROUP,
        "seen": [],
        "started_at": T0,
        "finished_at": T0,
        **changes,
    }
    with pytest.raises(InvalidAsset) as caught:
        store.record_run(**arguments)
    assert caught.value.field == field
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM catalog_runs")).scalar() == 0


def test_the_run_wire_format_round_trips() -> None:
    coverage = RunCoverage(
        answered=frozenset({svc("orders")}),
        unsure=frozenset({svc("cart")}),
        listed=False,
        unlisted=frozenset({("east", "billing")}),
        excluded=frozenset({"kube-system"}),
    )
    body = wire.run_json(
        group_id=GROUP,
        seen=["shop-orders"],
        started_at=T0,
        finished_at=T0,
        complete=False,
        deprecate_after=2,
        clusters=["east"],
        namespaces=None,
        coverage=coverage,
        stale_after=4,
    )
    arguments = wire.run_from_json(body)
    assert (arguments["coverage"], arguments["stale_after"]) == (coverage, 4)
    # Without them the body is an older crawler's, which every server reads.
    legacy = wire.run_json(
        group_id=GROUP,
        seen=[],
        started_at=T0,
        finished_at=T0,
        complete=True,
        deprecate_after=3,
        clusters=None,
        namespaces=None,
    )
    assert "coverage" not in legacy and "staleAfter" not in legacy
    summary = catalog.RunSummary(
        run_id=7,
        group_id=GROUP,
        counted=True,
        seen=(),
        missed=("a",),
        deprecated=(),
        restored=(),
        held=("b",),
        stale=(InstanceRef("a", "east", "shop", "a", 80),),
    )
    assert wire.summary_from_json(wire.summary_json(summary)) == summary
    older = {k: v for k, v in wire.summary_json(summary).items() if k not in ("held", "stale")}
    assert wire.summary_from_json(older) == dataclasses.replace(summary, held=(), stale=())


def test_through_a_catalogue_server_instances_show_stale_and_last_seen(catalog_url: str) -> None:
    with (
        serving(catalog_url, max_body=1024 * 1024) as api,
        catalog.HttpTarget(api.running.url, token=TOKEN) as target,
    ):
        target.publish_many([ORDERS, SEARCH], seen_at=at(0))
        for run in (1, 2):
            target.publish_many([ORDERS], seen_at=at(run))
            summary = target.record_run(
                group_id=GROUP,
                seen=["shop-orders"],
                started_at=at(run),
                finished_at=at(run),
                clusters=["east"],
                coverage=RunCoverage(answered=frozenset({svc("orders")})),
                deprecate_after=2,
                stale_after=2,
            )
        assert summary.deprecated == ("shop-search",)
        assert summary.stale == (InstanceRef("shop-search", "east", "shop", "search", 8080),)
        listed = api.http.get(f"{E}/{GROUP}/shop-search/instances").json()
        version = api.http.get(f"{E}/{GROUP}/shop-orders/1.0.0/instances").json()
        asset = api.http.get(f"{E}/{GROUP}/shop-search").json()
    assert [(i["service"], i["stale"], i["lastSeen"]) for i in listed] == [
        ("search", True, at(0).isoformat())
    ]
    assert [(i["service"], i["stale"], i["lastSeen"]) for i in version] == [
        ("orders", False, at(2).isoformat())
    ]
    assert asset["lifecycle"] == "deprecated"
    assert [i["stale"] for i in asset["instances"]] == [True]
