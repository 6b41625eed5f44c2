"""AsyncAPI documents: found where Springwolf serves them, validated by the
AsyncAPI Initiative's own JSON Schemas, counted, refused when hostile, and
numbered by what changed between two runs.

Expected counts come from the documents themselves (their ``channels`` and
``operations`` maps); expected validation messages are jsonschema's own words
for the shipped schema's rules.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry

import catalog
from catalog.exports import specs as spec_exports
from discovery import specs
from discovery.contracts import asyncapi
from discovery.errors import SpecRefusedError
from discovery.model import Api, Service, ServiceKey, ServicePort
from discovery.probing.fetch import Fetcher, Limits, make_client
from discovery.probing.probe import Prober
from discovery.specpool import SpecPool
from fixtures.backends import Backend, start_backends
from fixtures.ports import free_port

SPECS = Path(__file__).parent.parent / "fixtures" / "specs" / "asyncapi"
V3 = SPECS / "3.0" / "shipping-springwolf.json"
V2 = SPECS / "2.6" / "accounts-amqp.yaml"
SCHEMAS = Path(asyncapi.__file__).parent / "schemas" / "asyncapi"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _parse(content: bytes, ctype: str = "application/json") -> Any:
    return specs.parse_spec(content, url="http://127.0.0.1:1/springwolf/docs", content_type=ctype)


# --- the schemas shipped ----------------------------------------------------------


def test_the_shipped_schemas_are_the_initiatives_with_their_licence() -> None:
    for version in ("2.6.0", "3.0.0"):
        schema = json.loads((SCHEMAS / f"{version}.json").read_bytes())
        assert schema["title"] == f"AsyncAPI {version} schema."
        # The AsyncAPI version key is pinned to the schema's own version.
        pinned = schema["properties"]["asyncapi"]
        assert pinned.get("const", (pinned.get("enum") or [None])[0]) == version
        jsonschema.Draft7Validator.check_schema(schema)
    assert "Apache License" in (SCHEMAS / "LICENSE").read_text()
    assert "AsyncAPI Initiative" in (SCHEMAS / "NOTICE").read_text()


# --- valid documents, counted ----------------------------------------------------


def test_a_3_0_document_is_read_with_its_channels_operations_and_brokers() -> None:
    raw = json.loads(V3.read_bytes())
    doc = _parse(V3.read_bytes())
    assert (doc.format, doc.spec_version, doc.valid, doc.errors) == ("asyncapi", "3.0.0", True, ())
    assert doc.operation_count == len(raw["channels"]) + len(raw["operations"])
    assert {op.name for op in doc.operations if op.method == "channel"} == {
        f"channel {c['address']}" for c in raw["channels"].values()
    }
    assert {(op.name, op.method) for op in doc.operations if op.method != "channel"} == {
        (name, op["action"]) for name, op in raw["operations"].items()
    }
    assert doc.servers == tuple(f"{s['protocol']}://{s['host']}" for s in raw["servers"].values())
    assert (doc.title, doc.api_version) == (raw["info"]["title"], raw["info"]["version"])
    assert doc.content == V3.read_bytes()


def test_a_2_6_document_is_read_with_publish_and_subscribe() -> None:
    raw = yaml.safe_load(V2.read_bytes())
    doc = _parse(V2.read_bytes(), "application/yaml")
    assert (doc.spec_version, doc.packaging, doc.valid) == ("2.6.0", "yaml", True)
    actions = [
        (item[action].get("operationId"), action)
        for item in raw["channels"].values()
        for action in ("publish", "subscribe")
        if action in item
    ]
    assert doc.operation_count == len(raw["channels"]) + len(actions)
    assert {(op.name, op.method) for op in doc.operations if op.method != "channel"} == set(actions)
    assert "amqp://rabbitmq.example.com:5672" in doc.servers  # a scheme-less url gets its protocol
    assert "amqp://rabbitmq-staging.example.com:5672" in doc.servers
    assert doc.tags == ("accounts",)


def test_an_earlier_2_x_document_is_judged_by_2_6_rules() -> None:
    raw = yaml.safe_load(V2.read_bytes())
    raw["asyncapi"] = "2.3.0"
    doc = _parse(json.dumps(raw).encode())
    assert (doc.spec_version, doc.valid) == ("2.3.0", True)


# --- invalid documents, refused with the validator's reasons ----------------------


def _schema_errors(document: dict[str, Any], version: str) -> list[str]:
    schema = json.loads((SCHEMAS / f"{version}.json").read_bytes())
    validator = jsonschema.Draft7Validator(schema, registry=Registry())
    return [e.message for e in validator.iter_errors(document)]


def test_an_invalid_3_0_document_is_kept_invalid_with_the_schemas_reasons() -> None:
    raw = json.loads(V3.read_bytes())
    del raw["info"]["version"]
    raw["operations"]["shipment-dispatched_send_dispatch"]["action"] = "shout"
    doc = _parse(json.dumps(raw).encode())
    assert doc.valid is False
    assert "'version' is a required property" in _schema_errors(raw, "3.0.0")
    assert "info: 'version' is a required property" in doc.errors
    (action,) = [e for e in doc.errors if e.startswith("operations.")]
    # The closest alternative's complaint, in jsonschema's words, not "any of the given schemas".
    assert "'shout' is not one of ['send', 'receive']" in action
    assert doc.operation_count == len(raw["channels"]) + len(raw["operations"])


def test_an_invalid_2_6_document_names_the_missing_channels() -> None:
    raw = yaml.safe_load(V2.read_bytes())
    del raw["channels"]
    doc = _parse(json.dumps(raw).encode())
    assert "'channels' is a required property" in _schema_errors(raw, "2.6.0")
    assert doc.errors == ("'channels' is a required property",)


def test_an_unknown_version_and_an_external_ref_are_said() -> None:
    raw = json.loads(V3.read_bytes())
    raw["asyncapi"] = "4.0.0"
    doc = _parse(json.dumps(raw).encode())
    assert doc.errors == ("unsupported AsyncAPI version '4.0.0' (schemas shipped: 2.x, 3.0.x)",)
    raw = json.loads(V3.read_bytes())
    channel = raw["channels"]["order-paid"]["messages"]["com.example.shipping.OrderPaid"]
    channel["$ref"] = "http://schemas.example.com/order-paid.json"
    doc = _parse(json.dumps(raw).encode())
    assert (
        "$ref 'http://schemas.example.com/order-paid.json' points outside the document"
        " and is not followed"
    ) in doc.errors


# --- hostile documents ----------------------------------------------------------------


def _deep(levels: int) -> bytes:
    inner = '{"a": ' * levels + "1" + "}" * levels
    return ('{"asyncapi": "3.0.0", "info": {"x-deep": ' + inner + "}}").encode()


def _alias_bomb() -> bytes:
    lines = ["asyncapi: 3.0.0", "info: {title: t, version: '1'}", 'a0: &a0 ["x", "x"]']
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 60)]
    return "\n".join(lines).encode()


_HUGE = b'{"asyncapi": "3.0.0", "x-pad": "' + b" " * (11 * 1024 * 1024) + b'"}'


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        # Past the JSON parser's own recursion limit, and past ours.
        (_deep(10_000), "document nests too deeply to read"),
        (_deep(500), "document nests deeper than 100 levels"),
        (_alias_bomb(), "YAML expands to more than 1000000 values"),
        (_HUGE, f"{len(_HUGE)} bytes is over the {specs.DEFAULT_LIMITS.max_bytes} limit"),
    ],
    ids=["10000-deep", "500-deep", "yaml-alias-bomb", "over-the-size-limit"],
)
def test_hostile_documents_are_refused_with_their_reason_in_a_worker(
    content: bytes, reason: str
) -> None:
    async def main() -> str:
        async with SpecPool() as pool:
            try:
                await pool.parse(content, url="http://127.0.0.1:1/asyncapi", content_type=None)
            except SpecRefusedError as exc:
                return exc.message
        return "accepted"

    assert asyncio.run(main()) == reason


# --- found where Springwolf serves it ----------------------------------------------


def _probe(address: str, port: int) -> Api:
    service = Service(
        key=ServiceKey("c", "shop", "shipping"),
        type="ClusterIP",
        headless=False,
        cluster_ips=(address,),
        external_name=None,
        ports=(ServicePort("http", port, port, "TCP", None, "http"),),
        ready_addresses=(address,),
    )

    async def main() -> Api:
        running = await start_backends(
            [Backend("shop/shipping", address, port, "springwolf", spec=V3)]
        )
        limits = Limits(deadline=10.0)
        try:
            async with make_client(limits=limits) as client, SpecPool() as pool:
                prober = Prober(fetcher=Fetcher(client=client, limits=limits), pool=pool)
                (api,) = (await prober.probe(service)).apis
            return api
        finally:
            await running.stop()

    return asyncio.run(main())


def test_springwolfs_document_is_found_and_the_api_is_asyncapi() -> None:
    api = _probe("127.0.0.1", free_port())
    assert api.kind == "asyncapi"
    assert api.spec is not None and api.spec.url.endswith("/springwolf/docs")
    assert api.spec.content == V3.read_bytes()
    assert api.spec.servers == ("kafka://kafka.shop.svc.cluster.local:9092",)


# --- versions between runs, and the raw export --------------------------------------


def _draft(document: dict[str, Any]) -> catalog.AssetDraft:
    content = json.dumps(document).encode()
    doc = _parse(content)
    assert doc.valid, doc.errors
    return catalog.AssetDraft(
        group_id="acme",
        asset_id="shop-shipping",
        name="Shipping events",
        type="async-api",
        description=None,
        spec_version_hint=doc.api_version,
        files=(catalog.AssetFile(classifier="asyncapi", packaging="json", content=content),),
        operations=tuple(sorted(f"{op.method} {op.path}" for op in doc.operations)),
        tags=(),
        owner=None,
        lifecycle=None,
        instance=catalog.Instance(
            cluster="c", namespace="shop", service="shipping", port=8080, endpoint_uri="http://s"
        ),
        dependencies=(),
        provenance=catalog.Provenance(method="probe", detail="http://s/springwolf/docs"),
    )


def test_removing_a_channel_publishes_one_major_and_adding_one_a_minor(tmp_path: Path) -> None:
    first = json.loads(V3.read_bytes())
    added = json.loads(V3.read_bytes())
    added["channels"]["shipment-delayed"] = {"address": "shipment-delayed", "messages": {}}
    removed = json.loads(json.dumps(added))
    del removed["channels"]["order-paid"]
    del removed["operations"]["order-paid_receive_onOrderPaid"]
    with catalog.open_store(f"sqlite:///{tmp_path / 'catalog.db'}") as store:
        results = [
            store.publish(_draft(doc), seen_at=T0 + timedelta(minutes=i))
            for i, doc in enumerate([first, added, removed, removed])
        ]
        asset = store.get("acme", "shop-shipping")
        written = spec_exports.write([asset], tmp_path / "out", spec_format="asyncapi")
    assert [(r.version, r.outcome) for r in results] == [
        ("1.0.0", "created"),
        ("1.1.0", "new-version"),  # info.version 1.0.0 is taken: numbered by the change
        ("2.0.0", "new-version"),
        ("2.0.0", "unchanged"),
    ]
    assert (
        "minor bump after 1.0.0 (1 addition: channel shipment-delayed added)" in results[1].reason
    )
    assert (
        "major bump after 1.1.0 (2 breaking changes: channel order-paid removed;"
        " operation receive order-paid removed)"
    ) in results[2].reason
    # The raw export is the catalogue's bytes, one file per version.
    assert sorted(p.name for p in written) == ["1.0.0.json", "1.1.0.json", "2.0.0.json"]
    stored = {v.version: v.files[0].content for v in asset.versions}
    assert all(p.read_bytes() == stored[p.stem] for p in written)
