"""Validation outcomes kept by digest: WSDLs included, and nothing validated twice."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from discovery import specs
from discovery.contracts import wsdl
from discovery.specpool import SpecPool
from fixtures.mesh import SPECS_DIR

INVOICE = SPECS_DIR / "wsdl" / "1.1" / "invoice-soap11.wsdl"
# A WSDL 1.1 document whose only defect is an import zeep would have to fetch.
IMPORTING = b"""<?xml version="1.0"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" name="Importing"
    targetNamespace="urn:importing">
  <import namespace="urn:elsewhere" location="http://127.0.0.1:9/elsewhere.wsdl"/>
</definitions>
"""


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def test_a_wsdl_outcome_is_kept_under_its_digest() -> None:
    doc = wsdl.parse_wsdl(IMPORTING, url="http://127.0.0.1/w", digest=_digest(IMPORTING))
    assert not doc.valid and "not fetched" in doc.errors[0]
    assert doc.check_key == wsdl.check_key(_digest(IMPORTING))
    assert doc.check_key.startswith(_digest(IMPORTING) + "/zeep/")


def test_a_remembered_wsdl_outcome_is_not_judged_again() -> None:
    key = wsdl.check_key(_digest(IMPORTING))
    # The remembered outcome (here: valid, no messages) is what the result says,
    # though zeep would refuse the import: zeep did not run.
    doc = wsdl.parse_wsdl(
        IMPORTING, url="http://127.0.0.1/w", digest=_digest(IMPORTING), known={key: ()}
    )
    assert doc.valid and doc.errors == ()
    # Its facts are still read from the XML.
    assert doc.format == "wsdl" and doc.title == "Importing"


def test_a_warm_pool_starts_no_worker_for_a_known_wsdl() -> None:
    content = INVOICE.read_bytes() + b"<!-- warm -->"
    digest = _digest(content)
    known = {wsdl.check_key(digest): ()}

    async def scenario() -> tuple[int, bool, bool]:
        async with SpecPool() as pool:
            doc = await pool.parse(
                content,
                url="http://127.0.0.1/services/InvoiceService?wsdl",
                content_type="text/xml",
                known=known,
                known_digests={digest},
            )
            return pool.started, doc.valid, doc.content is content

    started, valid, same = asyncio.run(scenario())
    assert (started, valid, same) == (0, True, True)


def test_a_cold_pool_validates_a_wsdl_in_one_worker_and_keeps_the_bytes() -> None:
    content = INVOICE.read_bytes() + b"<!-- cold -->"

    async def scenario() -> tuple[int, bool, bool, str | None]:
        async with SpecPool() as pool:
            doc = await pool.parse(
                content, url="http://127.0.0.1/services/x?wsdl", content_type="text/xml"
            )
            return pool.started, doc.valid, doc.content == content, doc.check_key

    started, valid, same, key = asyncio.run(scenario())
    assert (started, valid, same) == (1, True, True)
    assert key == wsdl.check_key(_digest(content))


def test_json_read_through_orjson_gives_the_json_module_values(tmp_path: Path) -> None:
    # Integers past 64 bits stay integers; NaN is still accepted as the json module does.
    body = b'{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {},'
    body += b' "x-big": 123456789012345678901234567890, "x-nan": NaN}'
    doc = specs.parse_spec(body, url="http://127.0.0.1/o", content_type="application/json")
    tree, _ = specs._load_tree(body.decode(), content_type=None, limits=specs.DEFAULT_LIMITS)
    assert isinstance(tree, dict) and tree["x-big"] == 123456789012345678901234567890
    assert isinstance(tree["x-big"], int)
    assert doc.format == "openapi"
