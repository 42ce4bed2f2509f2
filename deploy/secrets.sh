#!/bin/sh
# Creates the secrets deploy/compose.yaml needs, in deploy/secrets/ (never committed): random
# admin and order API tokens, a registry password per service and for CI, and the registry's
# auth file with their argon2id hashes; and the same as Kubernetes Secrets for deploy/k8s/
# (deploy/secrets/k8s-secrets.yaml). Run once from the repository root; it keeps what exists.
#   SECRETS_DIR=path   write them there instead
#   CONTRACTS=path     the contracts binary to hash with (default: cargo run -p contracts-cli)
set -eu
dir=${SECRETS_DIR:-deploy/secrets}
# The directory keeps other local users out; the files stay readable by the containers' user
# (uid 10001), which compose bind-mounts them for.
mkdir -p "$dir"
chmod 700 "$dir"
umask 022
random() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
contracts() {
  if [ -n "${CONTRACTS:-}" ]; then "$CONTRACTS" "$@"; else cargo run -q -p contracts-cli -- "$@"; fi
}

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
# The same secrets as Kubernetes Secrets, for deploy/k8s/ (kubectl apply -f "$dir/k8s-secrets.yaml").
indent() { sed 's/^/      /' "$1"; }
k8s="$dir/k8s-secrets.yaml"
{
  printf '# The shop-made secrets of deploy/k8s/, written by deploy/secrets.sh. Never commit this file.\n'
  printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: shop-admin\ntype: Opaque\nstringData:\n'
  printf '  read-token: "%s"\n  write-token: "%s"\n' "$(cat "$dir/admin-read-token")" "$(cat "$dir/admin-write-token")"
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: shop-order-api\ntype: Opaque\nstringData:\n'
  printf '  token: "%s"\n' "$(cat "$dir/order-api-token")"
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: shop-registry-users\ntype: Opaque\nstringData:\n'
  for user in $users; do
    printf '  %s: "%s"\n' "$user" "$(cat "$dir/registry-$user")"
  done
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: contracts-registry-auth\ntype: Opaque\nstringData:\n'
  printf '  auth.json: |\n'
  indent "$auth"
} > "$k8s"
echo "secrets are in $dir/ ($k8s for Kubernetes); CI registers with SCHEMA_REGISTRY_AUTH_FILE=$dir/registry-ci"
