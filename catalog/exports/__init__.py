"""Exports of the catalogue for developer portals.

* :mod:`catalog.exports.backstage`: Backstage ``API``/``Component``/``System``
  entities as one ``catalog-info.yaml``;
* :mod:`catalog.exports.exchange`: one folder per asset version, laid out for
  Anypoint Exchange's publish API, and :mod:`catalog.exports.exchange_publish`,
  which publishes those folders;
* :mod:`catalog.exports.specs`: the raw OpenAPI or WSDL files, byte for byte.
* :mod:`catalog.exports.portal`: the static portal, with the kept run graphs'
  service graph pages and the findings page (import it by name).

The browsable portal is :mod:`catalog.portal`.
"""

from __future__ import annotations

from catalog.exports import backstage, exchange, exchange_publish, specs
from catalog.exports.backstage import BackstageOptions
from catalog.exports.exchange import ExchangeOptions
from catalog.exports.names import backstage_name
from catalog.exports.specs import SpecFormat

__all__ = [
    "BackstageOptions",
    "ExchangeOptions",
    "SpecFormat",
    "backstage",
    "backstage_name",
    "exchange",
    "exchange_publish",
    "specs",
]
