"""Parses a node's /metrics answer (read from stdin) with the Prometheus project's own
OpenMetrics parser, which refuses anything malformed, and prints the families as JSON:
{"family": {"type": ..., "samples": [{"name": ..., "labels": {...}, "value": ...}]}}."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = {
        "type": family.type,
        "samples": [
            {"name": s.name, "labels": dict(s.labels), "value": s.value}
            for s in family.samples
        ],
    }
json.dump(families, sys.stdout)
