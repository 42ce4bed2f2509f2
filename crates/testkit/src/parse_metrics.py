# Reads Prometheus text (format 0.0.4) on stdin and prints its families as JSON, as the
# Prometheus project's Python client parses them; a text that does not parse raises.
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = [
    {
        "name": f.name,
        "type": f.type,
        "help": f.documentation,
        # repr keeps +Inf and NaN, which JSON has no numbers for.
        "samples": [
            {"name": s.name, "labels": s.labels, "value": repr(float(s.value))}
            for s in f.samples
        ],
    }
    for f in text_string_to_metric_families(sys.stdin.read())
]
json.dump(families, sys.stdout)
