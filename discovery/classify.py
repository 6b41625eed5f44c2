"""Decide what kind of API answered, from what probing saw.

A valid OpenAPI/Swagger description makes a port ``rest``, a WSDL ``soap``, a
GraphQL schema ``graphql``, a protobuf descriptor set ``grpc``.
Without one: a GraphQL answer to a ``__typename`` query means ``graphql``; a
SOAP Fault for an empty envelope means ``soap``; JSON answers mean ``rest``;
anything else that speaks HTTP is ``http``.
"""

from __future__ import annotations

from discovery import untrusted
from discovery.model import ApiKind, SpecDocument
from discovery.probing.fetch import Response

__all__ = ["ApiKind", "is_graphql", "kind_of_spec"]


def kind_of_spec(spec: SpecDocument) -> ApiKind:
    """The API kind a description (or a contract) implies."""
    return _KINDS.get(spec.format, "rest")


_KINDS: dict[str, ApiKind] = {
    "wsdl": "soap",
    "graphql": "graphql",
    "protobuf": "grpc",
    "asyncapi": "asyncapi",
}


def is_graphql(response: Response) -> bool:
    """Whether a response is a GraphQL answer to ``{ __typename }``."""
    if response.status != 200 or not response.content_type.endswith("json"):
        return False
    body = untrusted.load_json(response.body)
    if not isinstance(body, dict):
        return False
    data = body.get("data")
    return isinstance(data, dict) and isinstance(data.get("__typename"), str)
