"""GraphQL schemas read from the API itself, against real servers on loopback.

The zoo's GraphQL apps (Strawberry, Ariadne, GraphQL Yoga, Apollo Server,
Mercurius, graphql-http) are probed as a crawl probes them, and the schema
meshatlas keeps is compared, through graphql-core, with the schema each
framework prints of itself (``--print-schema``: Strawberry's
``schema.as_str()``, graphql-js's ``printSchema``...). Apollo Server run as in
production refuses introspection; the ``spring-graphql`` fixture backend does
too and prints its schema at ``/graphql/schema`` instead. Hostile answers
(too large, too deep) are refused with their reason.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from typing import Any

import graphql
import pytest
from aiohttp import web

from discovery import contracts, hints, specs
from discovery.errors import SpecRefusedError
from discovery.model import Api, Hint, HintKey, Overrides, Service, ServiceKey, ServicePort
from discovery.probing.fetch import Fetcher, Limits, make_client
from discovery.probing.probe import Prober
from discovery.specpool import SpecPool
from fixtures.backends import Backend, start_backends
from fixtures.ports import free_port
from fixtures.zoo import Zoo, framework_schema, load_apps
from fixtures.zoo.apps import command

GRAPHQL_APPS = [a for a in load_apps() if a.expect.kind == "graphql"]


_PLAIN = Overrides()


def _service(name: str, address: str, port: int, overrides: Overrides = _PLAIN) -> Service:
    return Service(
        key=ServiceKey("c", "ns", name),
        type="ClusterIP",
        headless=False,
        cluster_ips=(address,),
        external_name=None,
        ports=(ServicePort("http", port, port, "TCP", None, "http"),),
        ready_addresses=(address,),
        overrides=overrides,
    )


async def _probe_all(
    services: list[Service], hinted: Mapping[HintKey, Hint] | None = None
) -> dict[str, Api]:
    limits = Limits(deadline=10.0)
    async with make_client(limits=limits) as client, SpecPool() as pool:
        prober = Prober(fetcher=Fetcher(client=client, limits=limits), pool=pool, hints=hinted)
        found = await asyncio.gather(*(prober.probe(s) for s in services))
    return {f.service.key.name: f.apis[0] for f in found if f.apis}


def _remembered(apis: Mapping[str, Api]) -> dict[HintKey, Hint]:
    """What the catalogue gives a warm run: the GraphQL endpoint, as meshatlas records it."""
    out: dict[HintKey, Hint] = {}
    for api in apis.values():
        url = next(e.url for e in api.evidence if e.check == "graphql" and e.url)
        path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
        key = api.service
        out[(key.cluster, key.namespace, key.name, api.port.port)] = Hint(path=path, kind="graphql")
    return out


def _canonical(sdl: str) -> str:
    """The schema as graphql-core prints it, types and fields in name order."""
    return graphql.print_schema(graphql.lexicographic_sort_schema(graphql.build_schema(sdl)))


def _root_fields(sdl: str) -> set[str]:
    schema = graphql.build_schema(sdl)
    roots = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }
    return {f"{kind} {name}" for kind, root in roots.items() if root for name in root.fields}


# --- the zoo ------------------------------------------------------------------


@pytest.fixture(scope="module")
def zoo_graphql(zoo: Zoo) -> dict[str, Any]:
    placements = {p.app.name: p for p in zoo.placements if p.app.expect.kind == "graphql"}
    services = [_service(name, p.address, p.app.port) for name, p in placements.items()]
    cold = asyncio.run(_probe_all(services))
    warm = asyncio.run(_probe_all(services, _remembered(cold)))
    truth = {app.name: framework_schema(app) for app in GRAPHQL_APPS}
    return {"cold": cold, "warm": warm, "truth": truth}


@pytest.mark.parametrize("app", GRAPHQL_APPS, ids=[a.key for a in GRAPHQL_APPS])
def test_the_schema_is_the_one_the_framework_holds(zoo_graphql: dict[str, Any], app: Any) -> None:
    api = zoo_graphql["cold"][app.name]
    truth = zoo_graphql["truth"][app.name]
    contract = api.contract
    assert api.kind == "graphql"
    assert contract is not None, api.evidence
    assert (contract.format, contract.packaging, contract.spec_version) == (
        "graphql",
        "graphql",
        "introspection",
    )
    assert contract.valid, contract.errors
    served = contract.content.decode()
    assert _canonical(served) == _canonical(truth)
    old, new = graphql.build_schema(truth), graphql.build_schema(served)
    assert graphql.find_breaking_changes(old, new) == []
    assert graphql.find_breaking_changes(new, old) == []
    assert {op.name for op in contract.operations} == _root_fields(truth)
    assert len(contract.operations) == app.expect.operations
    # The stored file is graphql-core's print of the schema: the same bytes every time.
    assert served == _canonical(served) + "\n"


@pytest.mark.parametrize("app", GRAPHQL_APPS, ids=[a.key for a in GRAPHQL_APPS])
def test_a_warm_run_reads_the_schema_with_its_one_request(
    zoo_graphql: dict[str, Any], app: Any
) -> None:
    cold, warm = zoo_graphql["cold"][app.name], zoo_graphql["warm"][app.name]
    assert warm.requests == 1
    assert warm.contract is not None and cold.contract is not None
    assert warm.contract.content == cold.contract.content
    # Its endpoint is recorded again, so the next run goes there too.
    assert _remembered({"a": warm}) == _remembered({"a": cold})


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def apollo_in_production(zoo: Zoo) -> Iterator[int]:
    """The zoo's Apollo Server app with NODE_ENV=production: introspection off, as Apollo does."""
    (app,) = [a for a in GRAPHQL_APPS if a.name == "apollo-bookshelf"]
    argv, env = command(app, host="127.0.0.1")
    port = free_port()
    argv[argv.index("--port") + 1] = str(port)
    process = subprocess.Popen(
        argv,
        env={**env, "NODE_ENV": "production"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        ends = time.monotonic() + 60
        while not _accepts(port):
            if process.poll() is not None or time.monotonic() > ends:
                pytest.fail(f"Apollo Server did not start (exit {process.poll()})")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_introspection_refused_in_production_is_recorded_and_the_api_stays_graphql(
    apollo_in_production: int,
) -> None:
    found = asyncio.run(_probe_all([_service("apollo", "127.0.0.1", apollo_in_production)]))
    api = found["apollo"]
    assert api.kind == "graphql" and api.contract is None
    (refused,) = [e for e in api.evidence if e.check == "graphql-introspection"]
    assert refused.matched.startswith("introspection refused: GraphQL introspection is not allowed")
    assert refused.status == 400  # Apollo's own answer to a refused query


# --- Spring for GraphQL, imitated: introspection off, the schema printed ---------


def _spring(*, overrides: Overrides = _PLAIN, hint: Hint | None = None) -> Api:
    async def main() -> Api:
        port = free_port()
        running = await start_backends([Backend("ns/gw", "127.0.0.1", port, "spring-graphql")])
        try:
            service = _service("gw", "127.0.0.1", port, overrides)
            hinted = {("c", "ns", "gw", port): hint} if hint else None
            return (await _probe_all([service], hinted))["gw"]
        finally:
            await running.stop()

    return asyncio.run(main())


def _fixture_sdl() -> str:
    from fixtures.backends._graphql import SCHEMA_SDL

    return SCHEMA_SDL


def test_a_printed_schema_is_read_where_introspection_is_off() -> None:
    api = _spring()
    assert api.kind == "graphql"
    contract = api.contract
    assert contract is not None and contract.valid
    assert contract.spec_version == "sdl" and contract.url.endswith("/graphql/schema")
    assert _canonical(contract.content.decode()) == _canonical(_fixture_sdl())
    said = {e.check: e.matched for e in api.evidence}
    assert said["graphql-introspection"].startswith(
        "introspection refused: GraphQL introspection has been disabled"
    )
    assert said["graphql-schema"] == "GraphQL schema (sdl), 4 operations"


def test_the_annotated_schema_path_is_read_first_and_alone() -> None:
    annotated = hints.overrides({hints.GRAPHQL_SCHEMA_PATH: "/graphql/schema"}, {}, {}, {})
    assert annotated.graphql_schema_path == "/graphql/schema"
    api = _spring(overrides=annotated)
    assert api.requests == 1 and api.kind == "graphql"
    assert api.contract is not None and api.contract.operation_count == 4
    assert api.evidence[0].check == "graphql-schema"


def test_a_remembered_schema_file_costs_one_request() -> None:
    api = _spring(hint=Hint(path="/graphql/schema", kind="graphql"))
    assert api.requests == 1 and api.contract is not None


def test_a_remembered_endpoint_that_refuses_introspection_costs_one_request() -> None:
    # Had the printed schema been found last time, its path would be remembered instead.
    api = _spring(hint=Hint(path="/graphql", kind="graphql"))
    assert api.requests == 1 and api.kind == "graphql" and api.contract is None
    assert [e.check for e in api.evidence] == ["graphql", "graphql-introspection"]


# --- hostile answers --------------------------------------------------------------


def _nested_sdl(depth: int) -> bytes:
    return ("type Query { f: " + "[" * depth + "Int" + "]" * depth + " }").encode()


def _nested_introspection(depth: int) -> bytes:
    inner: dict[str, Any] = {"kind": "SCALAR", "name": "Int", "ofType": None}
    text = json.dumps(inner)
    for _ in range(depth):
        text = '{"kind": "LIST", "name": null, "ofType": ' + text + "}"
    return ('{"data": {"__schema": {"types": [' + text + "]}}}").encode()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (_nested_sdl(10_000), "SDL nests deeper than 100 levels"),
        (_nested_introspection(10_000), "answer nests deeper than 100 levels"),
        (_nested_introspection(500), "answer nests deeper than 100 levels"),
        (b"{" + b" " * (11 * 1024 * 1024) + b"}", "11534338 bytes is over the 10485760 limit"),
    ],
    ids=["sdl-10000-deep", "json-10000-deep", "json-500-deep", "over-the-size-limit"],
)
def test_hostile_schemas_are_refused_with_their_reason_in_a_worker(
    content: bytes, reason: str
) -> None:
    async def main() -> str:
        async with SpecPool() as pool:
            try:
                await pool.parse(
                    content,
                    url="http://127.0.0.1:1/graphql",
                    content_type="application/json",
                    reading=contracts.Reading("graphql"),
                )
            except SpecRefusedError as exc:
                return exc.message
        return "accepted"

    assert asyncio.run(main()) == reason


def test_the_same_deep_schema_is_refused_inline_too() -> None:
    with pytest.raises(SpecRefusedError, match="SDL nests deeper than 100 levels"):
        specs.parse_spec(
            _nested_sdl(10_000),
            url="http://x/schema",
            content_type="text/plain",
            reading=contracts.Reading("graphql"),
        )


def test_a_100_mb_introspection_answer_is_cut_at_the_cap() -> None:
    sent = [0]

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if "__schema" not in body["query"]:
            return web.json_response({"data": {"__typename": "Query"}})
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 100 * 1024 * 1024
        await response.prepare(request)
        chunk = b'{"data": {"__schema": {"types": [' + b" " * 65_500
        try:
            while sent[0] < 100 * 1024 * 1024:
                await response.write(chunk)
                sent[0] += len(chunk)
                chunk = b" " * 65_536
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    async def main() -> Api:
        app = web.Application()
        app.router.add_post("/graphql", handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            hinted = {("c", "ns", "big", port): Hint(path="/graphql", kind="graphql")}
            return (await _probe_all([_service("big", "127.0.0.1", port)], hinted))["big"]
        finally:
            await runner.cleanup()

    api = asyncio.run(main())
    assert api.kind == "graphql" and api.contract is None
    (cut,) = [e for e in api.evidence if e.check == "graphql-introspection"]
    assert cut.matched == "introspection answer over the size cap, not read"
    assert sent[0] < 40 * 1024 * 1024  # the rest was never read


def test_the_annotation_is_kept_and_must_stay_on_the_service() -> None:
    assert hints.GRAPHQL_SCHEMA_PATH in hints.ALLOWED
    off = hints.overrides(
        {hints.GRAPHQL_SCHEMA_PATH: "http://elsewhere.example/schema.graphql"}, {}, {}, {}
    )
    assert off.graphql_schema_path is None
    own = hints.overrides(
        {hints.GRAPHQL_SCHEMA_PATH: "http://gw.ns.svc:8080/schema.graphql"},
        {},
        {},
        {},
        own_hosts=frozenset({"gw.ns.svc"}),
    )
    assert own.graphql_schema_path == "/schema.graphql"


def test_an_introspection_refusal_is_told_from_a_schema() -> None:
    schema = graphql.build_schema(_fixture_sdl())
    document = graphql.parse(contracts.graphql.INTROSPECTION_QUERY)
    rules = [*graphql.specified_rules, graphql.validation.NoSchemaIntrospectionCustomRule]
    errors = graphql.validate(schema, document, rules)
    refusal = json.dumps({"errors": [e.formatted for e in errors]}).encode()
    assert contracts.graphql.refusal(refusal) == errors[0].message
    answer = graphql.graphql_sync(schema, contracts.graphql.INTROSPECTION_QUERY)
    assert contracts.graphql.refusal(json.dumps({"data": answer.data}).encode()) is None
