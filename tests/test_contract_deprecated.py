"""Each contract kind's own deprecation mark reaches ``Operation.deprecated`` and the drift router.

The documents come from the real frameworks and libraries: FastAPI's
``deprecated=True`` (FastAPI docs, "Path Operation Configuration", writes
``deprecated: true`` on the operation), Strawberry's ``deprecation_reason``
(printed as GraphQL's ``@deprecated``), and protobuf's ``MethodOptions.deprecated``
(``option deprecated = true``). The truth is read from each document itself
by the library that made it, not from meshatlas.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import graphql
import pytest
from google.protobuf import descriptor_pb2

from discovery import specs
from discovery.contracts import graphql as graphql_contract
from discovery.contracts import protobuf
from governance import routes

ROOT = Path(__file__).resolve().parent.parent
ZOO_PYTHON = ROOT / ".zoo" / "venv" / "bin" / "python"

FASTAPI_APP = """
import json
from fastapi import FastAPI

app = FastAPI(title="Loans", version="2.0.0")

@app.get("/books")
def list_books() -> list[str]:
    return []

@app.get("/books/{isbn}", deprecated=True)
def get_book(isbn: str) -> str:
    return isbn

@app.post("/loans")
def lend(isbn: str) -> str:
    return isbn

@app.delete("/loans/{loan_id}", deprecated=True)
def give_back(loan_id: int) -> None:
    return None

print(json.dumps(app.openapi()))
"""

STRAWBERRY_APP = """
import strawberry

@strawberry.type
class Query:
    @strawberry.field
    def films(self) -> list[str]:
        return []

    @strawberry.field(deprecation_reason="use films")
    def movies(self) -> list[str]:
        return []

@strawberry.type
class Mutation:
    @strawberry.mutation(deprecation_reason="bookings moved to tickets")
    def book(self, film: str) -> bool:
        return True

    @strawberry.mutation
    def cancel(self, film: str) -> bool:
        return True

print(str(strawberry.Schema(query=Query, mutation=Mutation)))
"""


def _deprecated(route: routes.Route | None) -> bool:
    assert route is not None, "the call reached no documented operation"
    return route.deprecated


def _zoo_output(source: str) -> str:
    if not ZOO_PYTHON.exists():
        pytest.fail(f"{ZOO_PYTHON} is missing: `make zoo` builds it")
    done = subprocess.run(
        [str(ZOO_PYTHON), "-c", source], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


def test_fastapi_deprecated_operations_are_marked_and_routed_as_deprecated() -> None:
    text = _zoo_output(FASTAPI_APP)
    document = json.loads(text)
    truth = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("deprecated") is True
    }
    assert truth == {"GET /books/{isbn}", "DELETE /loans/{loan_id}"}  # FastAPI wrote them
    contract = specs.parse_spec(
        text.encode(), url="http://loans/openapi.json", content_type="application/json"
    )
    marked = {f"{op.method} {op.path}" for op in contract.operations if op.deprecated}
    assert marked == truth
    router = routes.compile_router(contract)
    assert _deprecated(router.http("GET", "/books/978")) is True
    assert _deprecated(router.http("GET", "/books")) is False
    assert _deprecated(router.http("DELETE", "/loans/7")) is True


def test_strawberry_deprecated_fields_are_marked() -> None:
    sdl = _zoo_output(STRAWBERRY_APP)
    schema = graphql.build_schema(sdl)
    truth = {
        f"{kind} {name}"
        for kind, root in (("query", schema.query_type), ("mutation", schema.mutation_type))
        if root is not None
        for name, field in root.fields.items()
        if field.deprecation_reason is not None
    }
    assert truth == {"query movies", "mutation book"}
    contract = graphql_contract.read_schema(
        sdl.encode(), url="http://cinema/graphql/schema", limits=specs.DEFAULT_LIMITS
    )
    assert {op.name for op in contract.operations if op.deprecated} == truth
    assert {op.name for op in contract.operations if not op.deprecated} == {
        "query films",
        "mutation cancel",
    }


def test_protobuf_deprecated_methods_are_marked() -> None:
    file = descriptor_pb2.FileDescriptorProto(name="shop/orders.proto", package="shop")
    file.message_type.add(name="Order")
    service = file.service.add(name="Orders")
    service.method.add(name="Get", input_type=".shop.Order", output_type=".shop.Order")
    old = service.method.add(name="Find", input_type=".shop.Order", output_type=".shop.Order")
    old.options.deprecated = True
    content = descriptor_pb2.FileDescriptorSet(file=[file]).SerializeToString()
    # What protobuf itself reads back from the bytes is the truth.
    read_back = descriptor_pb2.FileDescriptorSet.FromString(content)
    methods = read_back.file[0].service[0].method
    truth = {f"rpc shop.Orders/{m.name}" for m in methods if m.options.deprecated}
    assert truth == {"rpc shop.Orders/Find"}
    contract = protobuf.read_descriptor_set(
        content, url="grpc://orders:50051", services=["shop.Orders"], limits=specs.DEFAULT_LIMITS
    )
    assert {op.name for op in contract.operations if op.deprecated} == truth
    router = routes.compile_router(contract)
    assert _deprecated(router.rpc("shop.Orders", "Find")) is True
    assert _deprecated(router.rpc("shop.Orders", "Get")) is False
