"""The catalogue keeps what crawls learnt about probing: quiet ports, validation outcomes.

Runs on SQLite and on a real PostgreSQL (the ``catalog_url`` fixture).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import catalog
from catalog.storage import probes

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
A = ("c1", "shop", "cart")
B = ("c1", "shop", "orders")


def test_silent_ports_are_kept_with_the_time_they_went_quiet(catalog_url: str) -> None:
    with catalog.open_store(catalog_url) as store:
        store.record_probes(
            probed=[A, B], silent=[(*A, 8080), (*B, 9090)], short=[], checks={}, at=T0
        )
        later = T0 + timedelta(hours=1)
        # cart is still silent; orders answered this time; a third Service was not probed.
        store.record_probes(probed=[A, B], silent=[(*A, 8080)], short=[], checks={}, at=later)
        quiet = store.quiet_ports()
    assert quiet == [catalog.QuietPort("c1", "shop", "cart", 8080, T0)]


def test_a_crawl_forgets_only_the_services_it_probed(catalog_url: str) -> None:
    with catalog.open_store(catalog_url) as store:
        store.record_probes(
            probed=[A, B], silent=[(*A, 8080), (*B, 9090)], short=[], checks={}, at=T0
        )
        # A run scoped to cart only: orders' quiet port stays known.
        store.record_probes(
            probed=[A], silent=[], short=[], checks={}, at=T0 + timedelta(minutes=5)
        )
        quiet = {(q.service, q.port) for q in store.quiet_ports()}
    assert quiet == {("orders", 9090)}


def test_validation_outcomes_are_kept_and_old_unused_ones_dropped(catalog_url: str) -> None:
    with catalog.open_store(catalog_url) as store:
        store.record_probes(
            probed=[],
            silent=[],
            short=[],
            checks={"k-valid": (), "k-bad": ("paths: required",)},
            at=T0,
        )
        assert store.spec_checks() == {"k-valid": (), "k-bad": ("paths: required",)}
        # Only k-valid is seen again, past the keeping period of k-bad.
        later = T0 + probes.KEPT + timedelta(days=1)
        store.record_probes(probed=[], silent=[], short=[], checks={"k-valid": ()}, at=later)
        assert store.spec_checks() == {"k-valid": ()}


def test_concurrent_crawls_recording_the_same_lessons_do_not_collide(catalog_url: str) -> None:
    errors: list[BaseException] = []

    def crawl(offset: int) -> None:
        try:
            with catalog.open_store(catalog_url) as store:
                for i in range(10):
                    store.record_probes(
                        probed=[A],
                        silent=[(*A, 8080)],
                        short=[],
                        checks={f"k{j}": () for j in range(50)},
                        at=T0 + timedelta(seconds=offset + i),
                    )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=crawl, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with catalog.open_store(catalog_url) as store:
        [quiet] = store.quiet_ports()
        # Whichever crawl wrote first set "since"; later writes never moved it.
        assert quiet.service == "cart"
        assert quiet.since in {T0 + timedelta(seconds=n) for n in range(3)}
        assert len(store.spec_checks()) == 50


def test_a_quiet_port_gets_the_full_deadline_again_after_a_few_short_checks(
    catalog_url: str,
) -> None:
    port = (*A, 8080)
    with catalog.open_store(catalog_url) as store:
        store.record_probes(probed=[A], silent=[port], short=[], checks={}, at=T0)
        counts = []
        for n in range(1, catalog.FULL_CHECK_EVERY + 1):
            at = T0 + timedelta(minutes=n)
            store.record_probes(probed=[A], silent=[port], short=[port], checks={}, at=at)
            counts.append(store.quiet_ports()[0].short_checks)
        assert counts == list(range(1, catalog.FULL_CHECK_EVERY + 1))
        # Due now: the crawl gave it the full deadline, and it was silent again.
        store.record_probes(
            probed=[A], silent=[port], short=[], checks={}, at=T0 + timedelta(hours=1)
        )
        [quiet] = store.quiet_ports()
    assert (quiet.short_checks, quiet.since) == (0, T0)


def test_quiet_ports_not_probed_for_the_keeping_period_are_dropped(catalog_url: str) -> None:
    with catalog.open_store(catalog_url) as store:
        store.record_probes(
            probed=[A, B], silent=[(*A, 8080), (*B, 9090)], short=[], checks={}, at=T0
        )
        # orders is gone from the cluster; cart is still probed and silent.
        later = T0 + probes.KEPT + timedelta(days=1)
        store.record_probes(probed=[A], silent=[(*A, 8080)], short=[], checks={}, at=later)
        assert [(q.service, q.port) for q in store.quiet_ports()] == [("cart", 8080)]
