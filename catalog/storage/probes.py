"""What the last crawls learnt about probing itself, kept for the next one.

Two things, both cheap to keep and costly to learn again:

- **Quiet ports**: ports that accepted (or not) but gave no answer within the
  deadline. The next crawls re-check them with a short deadline instead of
  waiting the full one again (see ``discovery.probing.probe.ProbeSettings``), and
  every :data:`FULL_CHECK_EVERY` crawls with the full one, so a port that got
  slow rather than dead is found again. A crawl that probes a Service replaces
  what is known of its ports: a port that answered is forgotten, a silent one
  keeps the time it first went quiet. Ports not probed for :data:`KEPT` (their
  Service is gone, or out of every crawl's scope) are dropped.
- **Validation outcomes** by check key (the description's digest, the
  validator and its version): the same bytes validate the same way, and
  validating is the costliest step of a crawl. Outcomes not used for
  :data:`KEPT` are dropped.

Writes are upserts, so concurrent crawls publishing into one catalogue never
collide on a key.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Table, and_, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from catalog.model import QuietPort
from catalog.storage.schema import QuietPortRow, SpecCheckRow

__all__ = [
    "FULL_CHECK_EVERY",
    "KEPT",
    "PortKey",
    "ServiceRef",
    "quiet_ports",
    "record",
    "spec_checks",
]

#: How long a quiet port or a validation outcome is kept after a crawl last used it.
KEPT: Final = timedelta(days=30)
#: A quiet port gets the full deadline again after this many short re-checks.
FULL_CHECK_EVERY: Final = 4

#: (cluster, namespace, service)
ServiceRef = tuple[str, str, str]
#: (cluster, namespace, service, port)
PortKey = tuple[str, str, str, int]


def quiet_ports(session: Session, *, clusters: Collection[str] | None = None) -> list[QuietPort]:
    """Every port known to have been silent when last probed (in ``clusters``, if given)."""
    query = select(QuietPortRow)
    if clusters is not None:
        query = query.where(QuietPortRow.cluster.in_(sorted(clusters)))
    return [
        QuietPort(row.cluster, row.namespace, row.service, row.port, row.since, row.short_checks)
        for row in session.scalars(query)
    ]


def spec_checks(session: Session) -> dict[str, tuple[str, ...]]:
    """Validation outcomes (error messages; none for a valid description) by check key."""
    return {
        key: tuple(json.loads(errors))
        for key, errors in session.execute(select(SpecCheckRow.check_key, SpecCheckRow.errors))
    }


def record(
    session: Session,
    *,
    probed: Collection[ServiceRef],
    silent: Collection[PortKey],
    short: Collection[PortKey],
    checks: Mapping[str, Sequence[str]],
    at: datetime,
) -> None:
    """Keep one crawl's probing lessons (see the module docstring).

    ``short`` are the ``silent`` ports that had only the short deadline.
    """
    _record_quiet(session, probed=set(probed), silent=set(silent), short=set(short), at=at)
    _record_checks(session, checks, at=at)


def _record_quiet(
    session: Session,
    *,
    probed: set[ServiceRef],
    silent: set[PortKey],
    short: set[PortKey],
    at: datetime,
) -> None:
    # In key order, as the upserts below: two crawls never wait on each other in a cycle.
    answered = [
        {"c": c, "n": n, "s": s, "p": p}
        for c, n, s, p in sorted(
            (row.cluster, row.namespace, row.service, row.port)
            for row in session.scalars(select(QuietPortRow))
        )
        if (c, n, s) in probed and (c, n, s, p) not in silent
    ]
    if answered:
        table = _table(QuietPortRow)
        forget = delete(table).where(
            and_(
                table.c.cluster == bindparam("c"),
                table.c.namespace == bindparam("n"),
                table.c.service == bindparam("s"),
                table.c.port == bindparam("p"),
            )
        )
        session.connection().execute(forget, answered)
    table = _table(QuietPortRow)
    full = [_quiet_row(key, at) for key in sorted(silent - short)]
    _upsert(session, table, full, keep=("since",))  # a full check: the count starts again
    again = [_quiet_row(key, at) for key in sorted(silent & short)]
    if again:
        insert = _insert(session, table)
        session.connection().execute(
            insert.on_conflict_do_update(
                index_elements=[column.name for column in table.primary_key.columns],
                set_={"last_at": insert.excluded.last_at, "short_checks": table.c.short_checks + 1},
            ),
            again,
        )
    session.execute(delete(QuietPortRow).where(QuietPortRow.last_at < at - KEPT))


def _quiet_row(key: PortKey, at: datetime) -> dict[str, Any]:
    cluster, namespace, service, port = key
    return {
        "cluster": cluster,
        "namespace": namespace,
        "service": service,
        "port": port,
        "since": at,
        "last_at": at,
        "short_checks": 0,
    }


def _record_checks(session: Session, checks: Mapping[str, Sequence[str]], *, at: datetime) -> None:
    rows = [
        {"check_key": key, "errors": json.dumps(list(errors)), "checked_at": at}
        for key, errors in sorted(checks.items())
    ]
    _upsert(session, _table(SpecCheckRow), rows, keep=("errors",))
    session.execute(delete(SpecCheckRow).where(SpecCheckRow.checked_at < at - KEPT))


def _table(row: type[QuietPortRow] | type[SpecCheckRow]) -> Table:
    table = row.__table__
    assert isinstance(table, Table)
    return table


def _insert(session: Session, table: Table) -> sqlite.Insert | postgresql.Insert:
    if session.get_bind().dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


def _upsert(
    session: Session, table: Table, rows: list[dict[str, Any]], *, keep: tuple[str, ...]
) -> None:
    """Insert ``rows``; where the key exists, update every column but the key and ``keep``."""
    if not rows:
        return
    insert = _insert(session, table)
    keys = [column.name for column in table.primary_key.columns]
    changing = [name for name in rows[0] if name not in keys and name not in keep]
    statement = insert.on_conflict_do_update(
        index_elements=keys, set_={name: insert.excluded[name] for name in changing}
    )
    session.connection().execute(statement, rows)
