"""Contracts an API hands out about itself, read as the catalogue keeps them.

OpenAPI, Swagger and WSDL descriptions are recognised by their content
(:mod:`discovery.specs`); the contracts here are asked for on purpose, so the
caller says what it asked for with a :class:`Reading`:

* ``graphql``: a GraphQL schema, from an introspection answer or a served SDL
  (:mod:`discovery.contracts.graphql`), kept as SDL text;
* ``protobuf``: a gRPC server's FileDescriptorSet from server reflection
  (:mod:`discovery.contracts.protobuf`), kept as it is, with ``.proto`` text
  beside it.

AsyncAPI documents are recognised by their content like OpenAPI, and read
by :mod:`discovery.contracts.asyncapi` (channels, operations, brokers).

All give the same :class:`~discovery.model.SpecDocument` shape as the other
descriptions (format, version, operations, validity), and both are read
through :func:`discovery.specs.parse_spec` with a ``reading``: in a worker
process (:class:`discovery.specpool.SpecPool`), bounded like every document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from discovery.contracts import asyncapi, graphql, protobuf, prototext
from discovery.model import SpecDocument

if TYPE_CHECKING:
    from discovery.specs import SpecLimits

__all__ = [
    "ContractKind",
    "Reading",
    "asyncapi",
    "graphql",
    "protobuf",
    "prototext",
    "read_contract",
]

ContractKind = Literal["graphql", "protobuf"]


@dataclass(frozen=True, slots=True)
class Reading:
    """What bytes were asked for: a ``graphql`` schema or a ``protobuf`` descriptor set.

    ``services`` are the services a gRPC server listed: only their methods
    are operations.
    """

    kind: ContractKind
    services: tuple[str, ...] = ()


def read_contract(
    content: bytes, *, url: str, reading: Reading, limits: SpecLimits
) -> SpecDocument:
    """Read ``content`` as ``reading`` says; raises :class:`~discovery.errors.SpecError` s."""
    if reading.kind == "graphql":
        return graphql.read_schema(content, url=url, limits=limits)
    return protobuf.read_descriptor_set(content, url=url, services=reading.services, limits=limits)
