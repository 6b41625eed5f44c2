"""One discovery run end to end: preflight, pipeline, telemetry, publishing, report, outcome and
run metrics; shared by ``discover`` and ``demo``."""
