"""Catalogue targets: a local store or a ``meshatlas serve`` URL, and the wire formats
between them."""
