#!/usr/bin/env python3
"""Python `avro` as a reference checker for Avro reader/writer compatibility.

Reads JSON lines on stdin:

    {"id": "any", "reader": "<reader schema JSON text>", "writer": "<writer schema JSON text>"}

and prints one JSON line per input, in order:

    {"id": "any", "compatible": true|false|null, "error": null|"..."}

`compatible` is what `ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)` says:
can the reader schema read data written with the writer schema. A schema that fails to parse gives
`compatible: null` and the parse error. An exception raised by the checker itself counts as
incompatible (the Confluent Schema Registry reports checker exceptions as incompatibilities) and
its text is returned in `error`.

The `avro` package is found on PYTHONPATH, else in `<repo>/.oracles/python` (where
`.ci/install-oracles` puts it). Python avro is not what Confluent runs: see the divergences listed
in shared COMPAT_RULES.md ("Where implementations disagree") and in each case's [oracles] table.
"""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# PYTHONPATH entries come first; the repository's oracle install is the fallback.
sys.path.append(os.path.join(REPO, ".oracles", "python"))

try:
    import avro.schema
    from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
except ImportError as e:  # pragma: no cover - environment problem
    sys.exit(
        f"avro_oracle: cannot import the `avro` package ({e}); run .ci/install-oracles "
        "or set PYTHONPATH to a directory holding avro==1.12.0"
    )


def parse(label, text):
    try:
        return avro.schema.parse(text), None
    except Exception as e:  # any parse failure is reported, not raised
        return None, f"{label} schema does not parse: {type(e).__name__}: {e}"


def check(request):
    reader, error = parse("reader", request["reader"])
    if error:
        return None, error
    writer, error = parse("writer", request["writer"])
    if error:
        return None, error
    try:
        result = ReaderWriterCompatibilityChecker().get_compatibility(reader=reader, writer=writer)
    except Exception as e:
        return False, f"exception during compatibility check: {type(e).__name__}: {e}"
    return result.compatibility is SchemaCompatibilityType.compatible, None


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        compatible, error = check(request)
        out = {"id": request.get("id"), "compatible": compatible, "error": error}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
