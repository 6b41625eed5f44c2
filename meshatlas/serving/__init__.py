"""What ``meshatlas serve`` runs beside the catalogue's app: lifecycle, access log, metrics."""
