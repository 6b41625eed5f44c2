"""Breaking changes of GraphQL schemas, protobuf descriptors, WSDLs and AsyncAPI documents,
and the versions they make.

GraphQL schemas are compared with graphql-core's own ``find_breaking_changes``
and ``find_dangerous_changes``; the expected words are graphql-core's. Protobuf
descriptor sets are real FileDescriptorSets, built from the demo's gRPC files
(which import a paging file and ``google/protobuf/timestamp.proto``) and
changed one thing at a time. The store tests publish through a real SQLite
catalogue and read back the numbers and reasons. WSDLs are the demo's CXF WSDL
edited as a tree, one operation or part at a time.
"""

from __future__ import annotations

import copy as copy_module
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import graphql
import pytest
import yaml
from google.protobuf import descriptor_pb2
from lxml import etree

import catalog
from catalog.publishing import changes
from discovery import specs
from fixtures.backends import _grpc

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

SDL = """
type Product { id: ID! name: String! price: Float! tags: [String!] }
enum Status { OPEN CLOSED }
input Filter { name: String }
type Query { product(id: ID!): Product products(filter: Filter, first: Int = 10): [Product!]! }
type Mutation { rename(id: ID!, name: String!): Product }
"""


def _graphql(sdl: str) -> changes.Contract:
    schema = graphql.build_schema(sdl)
    operations = [
        f"{kind} {name}"
        for kind, root in (("query", schema.query_type), ("mutation", schema.mutation_type))
        if root is not None
        for name in root.fields
    ]
    files = [("graphql", "graphql", graphql.print_schema(schema).encode())]
    return changes.contract(asset_type="graphql-api", operations=operations, files=files)


#: Each edit of SDL, the bump it calls for, and the words meshatlas adds (graphql-core's
#: own words for breaking and dangerous changes are read from graphql-core below).
GRAPHQL_EDITS: dict[str, tuple[Callable[[str], str], str, str]] = {
    "field-type": (lambda s: s.replace("price: Float!", "price: String!"), "major", ""),
    "field-removed": (lambda s: s.replace(" tags: [String!]", ""), "major", ""),
    "required-arg": (
        lambda s: s.replace("product(id: ID!)", "product(id: ID!, tenant: String!)"),
        "major",
        "1 addition",
    ),
    "input-non-null": (
        lambda s: s.replace("input Filter { name: String }", "input Filter { name: String! }"),
        "major",
        "",
    ),
    "enum-value-removed": (lambda s: s.replace("OPEN CLOSED", "OPEN"), "major", ""),
    "field-added": (
        lambda s: s.replace("name: String! price", "name: String! sku: String price"),
        "minor",
        "1 addition: Product.sku added",
    ),
    "enum-value-added": (
        lambda s: s.replace("OPEN CLOSED", "OPEN CLOSED HELD"),
        "minor",
        "Status.HELD added",
    ),
    "default-changed": (lambda s: s.replace("first: Int = 10", "first: Int = 20"), "minor", ""),
    "descriptions": (
        lambda s: s.replace("type Product", '"A product."\ntype Product'),
        "patch",
        "same types, fields and arguments: descriptions or directives only",
    ),
}


@pytest.mark.parametrize("name", GRAPHQL_EDITS)
def test_graphql_changes_are_judged_by_graphql_core(name: str) -> None:
    edit, bump, words = GRAPHQL_EDITS[name]
    old, new = graphql.build_schema(SDL), graphql.build_schema(edit(SDL))
    change = changes.compare(_graphql(SDL), _graphql(edit(SDL)))
    assert change.bump == bump, change.reason
    assert words in change.reason
    breaking = graphql.find_breaking_changes(old, new)
    dangerous = graphql.find_dangerous_changes(old, new)
    assert bool(breaking) == (bump == "major")
    for found in [*breaking, *dangerous][:3]:
        assert found.description.rstrip(".") in change.reason


def test_the_reason_of_a_graphql_major_names_the_field_before_the_scalar_it_freed() -> None:
    edited = SDL.replace("price: Float!", "price: Int")
    old, new = graphql.build_schema(SDL), graphql.build_schema(edited)
    said = sorted(
        (c.description.rstrip(".") for c in graphql.find_breaking_changes(old, new)),
        key=lambda d: d.startswith("Standard scalar"),
    )
    change = changes.compare(_graphql(SDL), _graphql(edited))
    noun = "breaking change" + ("s" if len(said) != 1 else "")
    assert change.reason == f"{len(said)} {noun}: " + "; ".join(said)
    assert "Product.price" in said[0]


def _files() -> list[descriptor_pb2.FileDescriptorProto]:
    return [
        descriptor_pb2.FileDescriptorProto.FromString(f.SerializeToString()) for f in _grpc.FILES
    ]


def _protobuf(files: list[descriptor_pb2.FileDescriptorProto]) -> changes.Contract:
    found = descriptor_pb2.FileDescriptorSet(file=files)
    operations = [
        f"rpc {f.package}.{s.name}/{m.name}" for f in files for s in f.service for m in s.method
    ]
    return changes.contract(
        asset_type="grpc-api",
        operations=operations,
        files=[("grpc", "protobuf", found.SerializeToString())],
    )


def _search(files: list[descriptor_pb2.FileDescriptorProto]) -> descriptor_pb2.FileDescriptorProto:
    return next(f for f in files if f.name == "platform/search/v1/search.proto")


def _method(files: list[Any], name: str) -> Any:
    return next(m for m in _search(files).service[0].method if m.name == name)


def _message(files: list[Any], name: str) -> Any:
    every = [m for f in files for m in f.message_type]
    return next(m for m in every if m.name == name)


def _remove_method(files: list[Any]) -> None:
    methods = _search(files).service[0].method
    methods.remove(_method(files, "Suggest"))


def _add_method(files: list[Any]) -> None:
    _search(files).service[0].method.add(
        name="Explain",
        input_type=".platform.search.v1.SearchRequest",
        output_type=".platform.search.v1.SearchResponse",
    )


@pytest.mark.parametrize(
    ("edit", "bump", "words"),
    [
        (_remove_method, "major", "rpc platform.search.v1.SearchService/Suggest removed"),
        (
            lambda f: setattr(_method(f, "Suggest"), "server_streaming", True),
            "major",
            "rpc platform.search.v1.SearchService/Suggest changed from unary to server streaming",
        ),
        (
            lambda f: setattr(
                _method(f, "Suggest"), "input_type", ".platform.search.v1.SearchRequest"
            ),
            "major",
            "request type changed from platform.search.v1.SuggestRequest to"
            " platform.search.v1.SearchRequest",
        ),
        (
            lambda f: setattr(_message(f, "PageRequest").field[0], "type", 9),  # int32 -> string
            "major",
            "field platform.common.v1.PageRequest.page_size changed type from int32 to string",
        ),
        (
            lambda f: _message(f, "SearchHit").field.remove(_message(f, "SearchHit").field[2]),
            "major",
            "field platform.search.v1.SearchHit.score = 3 removed",
        ),
        (_add_method, "minor", "rpc platform.search.v1.SearchService/Explain added"),
        (
            lambda f: _message(f, "SearchHit").field.add(name="url", number=9, type=9, label=1),
            "minor",
            "field platform.search.v1.SearchHit.url = 9 added",
        ),
        (
            lambda f: setattr(_search(f).options, "go_package", "example.com/search"),
            "patch",
            "options only",
        ),
    ],
    ids=[
        "method-removed",
        "streaming",
        "request-type",
        "field-type",
        "field-removed",
        "method-added",
        "field-added",
        "options",
    ],
)
def test_protobuf_changes(edit: Callable[[list[Any]], None], bump: str, words: str) -> None:
    changed = _files()
    edit(changed)
    change = changes.compare(_protobuf(_files()), _protobuf(changed))
    assert change.bump == bump, change.reason
    assert words in change.reason


def test_an_unreadable_schema_falls_back_to_the_operations() -> None:
    old = changes.contract(
        asset_type="graphql-api",
        operations=["query a", "query b"],
        files=[("graphql", "graphql", b"type {")],
    )
    new = dataclasses.replace(old, operations=frozenset({"query a"}))
    change = changes.compare(old, new)
    assert (change.bump, change.reason) == ("major", "1 operation removed: query b")


# --- numbering, through the store ---------------------------------------------


def _draft(kind: str, content: bytes, operations: tuple[str, ...]) -> catalog.AssetDraft:
    classifier, packaging = (
        ("graphql", "graphql") if kind == "graphql-api" else ("grpc", "protobuf")
    )
    return catalog.AssetDraft(
        group_id="acme",
        asset_id="platform-api",
        name="api",
        type=kind,  # type: ignore[arg-type]
        description=None,
        spec_version_hint=None,
        files=(catalog.AssetFile(classifier=classifier, packaging=packaging, content=content),),  # type: ignore[arg-type]
        operations=operations,
        tags=(),
        owner=None,
        lifecycle=None,
        instance=catalog.Instance(
            cluster="c", namespace="platform", service="api", port=4000, endpoint_uri="http://api"
        ),
        dependencies=(),
        provenance=catalog.Provenance(method="probe", detail="http://api/graphql"),
    )


def _graphql_draft(sdl: str) -> catalog.AssetDraft:
    found = _graphql(sdl)
    content = graphql.print_schema(graphql.build_schema(sdl)).encode()
    return _draft("graphql-api", content, tuple(sorted(found.operations)))


def test_graphql_versions_are_numbered_by_what_broke(tmp_path: Path) -> None:
    steps = [
        SDL,
        SDL.replace("price: Float!", "price: String!"),  # a field type changed
        SDL.replace("price: Float!", "price: String!").replace("tags:", "sku: String tags:"),
        SDL.replace("price: Float!", "price: String!").replace("tags:", "sku: String tags:"),
    ]
    with catalog.open_store(f"sqlite:///{tmp_path / 'catalog.db'}") as store:
        results = [
            store.publish(_graphql_draft(sdl), seen_at=T0 + timedelta(minutes=i))
            for i, sdl in enumerate(steps)
        ]
    assert [(r.version, r.outcome) for r in results] == [
        ("1.0.0", "created"),
        ("2.0.0", "new-version"),
        ("2.1.0", "new-version"),
        ("2.1.0", "unchanged"),
    ]
    assert "major bump after 1.0.0 (" in results[1].reason
    assert "Product.price changed type from Float! to String!" in results[1].reason
    assert "minor bump after 2.0.0 (1 addition: Product.sku added)" in results[2].reason


def test_protobuf_versions_are_numbered_by_what_broke(tmp_path: Path) -> None:
    def draft(edit: Callable[[list[Any]], None] | None = None) -> catalog.AssetDraft:
        files = _files()
        if edit is not None:
            edit(files)
        found = _protobuf(files)
        assert found.protobuf is not None
        return _draft("grpc-api", found.protobuf, tuple(sorted(found.operations)))

    with catalog.open_store(f"sqlite:///{tmp_path / 'catalog.db'}") as store:
        first = store.publish(draft(), seen_at=T0)
        added = store.publish(draft(_add_method), seen_at=T0 + timedelta(minutes=1))
        removed = store.publish(draft(_remove_method), seen_at=T0 + timedelta(minutes=2))
        asset = store.get("acme", "platform-api")
    assert (first.version, added.version, removed.version) == ("1.0.0", "1.1.0", "2.0.0")
    assert "rpc platform.search.v1.SearchService/Explain added" in added.reason
    # Explain is gone again and Suggest removed: both said, in the schema's words.
    assert (
        "2 breaking changes: rpc platform.search.v1.SearchService/Suggest removed" in removed.reason
    )
    assert "rpc platform.search.v1.SearchService/Explain removed" in removed.reason
    assert asset.latest.version == "2.0.0"
    assert asset.latest.files[0].packaging == "protobuf"


# --- WSDL -------------------------------------------------------------------------

WSDL = Path(__file__).parent.parent / "fixtures" / "specs" / "wsdl" / "1.1" / "invoice-soap11.wsdl"
_W = "{http://schemas.xmlsoap.org/wsdl/}"


def _wsdl(edit: Callable[[Any], None] | None = None) -> bytes:
    """The demo's CXF WSDL, edited as a tree (portType, messages) when asked."""
    root = etree.fromstring(WSDL.read_bytes())
    if edit is not None:
        edit(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _operation(root: Any, name: str) -> Any:
    return root.find(f"{_W}portType/{_W}operation[@name='{name}']")


def _drop_cancel(root: Any) -> None:
    operation = _operation(root, "cancelInvoice")
    operation.getparent().remove(operation)


def _add_void(root: Any) -> None:
    copy = copy_module.deepcopy(_operation(root, "cancelInvoice"))
    copy.set("name", "voidInvoice")
    root.find(f"{_W}portType").append(copy)


def _retype_part(root: Any) -> None:
    part = root.find(f"{_W}message[@name='getInvoice']/{_W}part")
    del part.attrib["element"]
    part.set("type", "xs:string")


def _document_only(root: Any) -> None:
    doc = etree.SubElement(root.find(f"{_W}portType"), f"{_W}documentation")
    doc.text = "Invoices, as the billing team keeps them."


def _wsdl_contract(content: bytes) -> changes.Contract:
    doc = specs.parse_spec(content, url="http://127.0.0.1:1/services/x?wsdl", content_type=None)
    return changes.contract(
        asset_type="soap-api",
        operations=[op.name for op in doc.operations],
        files=[("wsdl", "wsdl", content)],
    )


@pytest.mark.parametrize(
    ("edit", "bump", "reason"),
    [
        (
            _drop_cancel,
            "major",
            "1 breaking change: operation InvoicePortType.cancelInvoice removed",
        ),
        (
            _retype_part,
            "major",
            "1 breaking change: operation InvoicePortType.getInvoice input part parameters"
            " changed from getInvoice to string",
        ),
        (_add_void, "minor", "1 addition: operation InvoicePortType.voidInvoice added"),
        (
            _document_only,
            "patch",
            "same operations and message parts: bindings, addresses or documentation only",
        ),
    ],
    ids=["operation-removed", "part-retyped", "operation-added", "documentation"],
)
def test_wsdl_changes(edit: Callable[[Any], None], bump: str, reason: str) -> None:
    change = changes.compare(_wsdl_contract(_wsdl()), _wsdl_contract(_wsdl(edit)))
    assert (change.bump, change.reason) == (bump, reason)


def test_wsdl_versions_are_numbered_by_what_broke(tmp_path: Path) -> None:
    def draft(content: bytes) -> catalog.AssetDraft:
        found = _wsdl_contract(content)
        return dataclasses.replace(
            _draft("grpc-api", b"", ()),
            type="soap-api",
            files=(catalog.AssetFile(classifier="wsdl", packaging="wsdl", content=content),),
            operations=tuple(sorted(found.operations)),
        )

    steps = [_wsdl(), _wsdl(_add_void), _wsdl(lambda r: (_add_void(r), _retype_part(r)))]
    with catalog.open_store(f"sqlite:///{tmp_path / 'catalog.db'}") as store:
        results = [
            store.publish(draft(content), seen_at=T0 + timedelta(minutes=i))
            for i, content in enumerate(steps)
        ]
    assert [r.version for r in results] == ["1.0.0", "1.1.0", "2.0.0"]
    assert "minor bump after 1.0.0 (1 addition: operation InvoicePortType.voidInvoice added)" in (
        results[1].reason
    )
    assert "major bump after 1.1.0 (1 breaking change: operation InvoicePortType.getInvoice" in (
        results[2].reason
    )


# --- AsyncAPI, compared directly -----------------------------------------------------

_ASYNC_2 = {
    "asyncapi": "2.6.0",
    "info": {"title": "t", "version": "1.0.0"},
    "channels": {
        "user/signedup": {
            "subscribe": {"message": {"oneOf": [{"name": "SignedUp"}, {"name": "Invited"}]}}
        },
        "user/left": {"publish": {"message": {"$ref": "#/components/messages/Left"}}},
    },
}


def _events(document: dict[str, Any]) -> changes.Contract:
    return changes.contract(
        asset_type="async-api",
        operations=sorted(document["channels"]),
        files=[("asyncapi", "yaml", yaml.safe_dump(document).encode())],
    )


def test_asyncapi_2_messages_and_operations_are_compared() -> None:
    fewer = copy_module.deepcopy(_ASYNC_2)
    fewer["channels"]["user/signedup"]["subscribe"]["message"]["oneOf"].pop()
    del fewer["channels"]["user/left"]["publish"]
    fewer["channels"]["user/left"]["subscribe"] = {"message": {"name": "Left"}}
    change = changes.compare(_events(_ASYNC_2), _events(fewer))
    assert change.bump == "major"
    assert change.reason == (
        "2 breaking changes: message Invited removed from channel user/signedup;"
        " operation publish user/left removed, 1 addition"
    )
    assert (
        changes.compare(_events(fewer), _events(_ASYNC_2)).bump == "major"
    )  # publish back, subscribe gone
    same = changes.compare(_events(_ASYNC_2), _events(_ASYNC_2))
    assert same.bump == "patch"
