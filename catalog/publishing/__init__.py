"""Publishing into the catalogue: validation, versioning, change rules, contract shapes, batches
and write-back."""
