#!/bin/sh
# Creates the secrets deploy/compose.yaml needs, in deploy/secrets/ (never committed): random
# admin and order API tokens, a registry password per service and for CI, and the registry's
# auth file with their argon2id hashes. Run once from the repository root; it keeps what exists.
set -eu
dir=deploy/secrets
# The directory keeps other local users out; the files stay readable by the containers' user
# (uid 10001), which compose bind-mounts them for.
mkdir -p "$dir"
chmod 700 "$dir"
umask 022
random() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
contracts() { cargo run -q -p contracts-cli -- "$@"; }

for name in admin-read-token admin-write-token order-api-token; do
  [ -s "$dir/$name" ] || random > "$dir/$name"
done
users="order inventory notification ci"
for user in $users; do
  [ -s "$dir/registry-$user" ] || printf '%s:%s' "$user" "$(random)" > "$dir/registry-$user"
done

# Services read and register their own events' subjects; CI (contracts register) administers.
auth="$dir/registry-auth.json"
if [ ! -s "$auth" ]; then
  {
    printf '{\n  "users": [\n'
    sep=""
    for user in $users; do
      hash=$(cut -d: -f2- "$dir/registry-$user" | contracts registry hash-password)
      printf '%s    {"username": "%s", "password_hash": "%s"}' "$sep" "$user" "$hash"
      sep=",
"
    done
    printf '\n  ],\n  "permissions": [\n'
    printf '    {"username": "order", "operation": "write", "resource": "Subject:*"},\n'
    printf '    {"username": "inventory", "operation": "write", "resource": "Subject:*"},\n'
    printf '    {"username": "notification", "operation": "read", "resource": "Subject:*"},\n'
    printf '    {"username": "ci", "operation": "admin", "resource": "Subject:*"},\n'
    printf '    {"username": "ci", "operation": "admin", "resource": "Config:"}\n'
    printf '  ]\n}\n'
  } > "$auth"
fi
echo "secrets are in $dir/; CI registers with SCHEMA_REGISTRY_AUTH_FILE=$dir/registry-ci"
