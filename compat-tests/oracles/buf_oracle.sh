#!/usr/bin/env bash
# `buf breaking` (WIRE rules) as an extra reference checker for Protobuf changes.
#
# Usage: buf_oracle.sh OLD_DIR NEW_DIR
#
# Checks that the .proto files in NEW_DIR do not break the wire format of those in OLD_DIR, i.e.
# that new code reads old data (buf's only direction; it has no FORWARD or transitive mode). Both
# folders are plain folders of .proto files with imports relative to the folder; no buf.yaml is
# needed (the configuration is passed inline). Prints one JSON object on stdout:
#
#   {"compatible": true|false, "violations": [<buf's JSON violation objects>]}
#   {"compatible": null, "error": "...", "violations": [...]}   when a folder does not compile
#
# Exit status: 0 when a verdict was printed (compatible or not), 1 on operational errors.
# buf is found via $BUF, else <repo>/.oracles/node/node_modules/.bin/buf (installed by
# .ci/install-oracles from npm @bufbuild/buf). buf is not Confluent: it requires `reserved`, keeps
# enums apart from int32 and treats every oneof change as breaking; see COMPAT_RULES.md.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 OLD_DIR NEW_DIR" >&2
  exit 1
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
buf="${BUF:-$repo/.oracles/node/node_modules/.bin/buf}"
if [[ ! -x "$buf" ]]; then
  echo "buf_oracle: no buf executable at $buf; run .ci/install-oracles or set BUF" >&2
  exit 1
fi
old="$(cd "$1" && pwd)"
new="$(cd "$2" && pwd)"
config='{"version":"v2","breaking":{"use":["WIRE"]}}'

set +e
# buf must run inside the input folder: with an inline config, a sub-folder input is refused.
out="$(cd "$new" && "$buf" breaking . --against "$old" --config "$config" --error-format json 2>&1)"
rc=$?
set -e

python3 - "$rc" "$out" <<'PY'
import json
import sys

rc, out = int(sys.argv[1]), sys.argv[2]
violations, other = [], []
for line in out.splitlines():
    line = line.strip()
    if not line:
        continue
    try:
        violations.append(json.loads(line))
    except ValueError:
        other.append(line)
compile_errors = [v for v in violations if v.get("type") == "COMPILE"]
if rc == 0 and not violations:
    result = {"compatible": True, "violations": []}
elif rc == 100 and violations and not compile_errors:
    result = {"compatible": False, "violations": violations}
else:
    detail = "; ".join(other + [f'{v.get("path")}:{v.get("start_line")}: {v.get("message")}' for v in compile_errors])
    result = {"compatible": None, "error": f"buf exited {rc}: {detail}", "violations": violations}
print(json.dumps(result))
PY
