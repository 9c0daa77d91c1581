#!/bin/sh
# One-shot set-up of the CouchDB cluster of deploy/compose.yaml; safe to run again.
#   1. wait for the three nodes, 2. join couchdb2 and couchdb3 to couchdb1 (same Erlang
#   cookie), 3. create the system databases (_global_changes is what _db_updates reads: the
#   gateways use it to wake live feeds), 4. create fieldsync's shared databases with their q.
set -eu

AUTH="admin:${COUCHDB_PASSWORD:?}"
FIRST=couchdb1.cluster
NODES="couchdb1.cluster couchdb2.cluster couchdb3.cluster"
PREFIX="${FIELDSYNC_DB_PREFIX:-}"
SHARED_Q="${SHARED_DB_Q:-2}"

for node in $NODES; do
    until curl -fsS -o /dev/null "http://$node:5984/_up"; do
        echo "waiting for $node"
        sleep 2
    done
done

for node in $NODES; do
    [ "$node" = "$FIRST" ] && continue
    code=$(curl -sS -o /dev/null -w '%{http_code}' -u "$AUTH" -X PUT \
        "http://$FIRST:5984/_node/_local/_nodes/couchdb@$node" -d '{}')
    case "$code" in
        201|202|409) echo "node couchdb@$node: $code" ;;
        *) echo "adding couchdb@$node failed: HTTP $code" >&2; exit 1 ;;
    esac
done

connected() {
    curl -fsS -u "$AUTH" "http://$FIRST:5984/_membership" |
        sed -n 's/.*"all_nodes":\[\([^]]*\)\].*/\1/p'
}
for node in $NODES; do
    until connected | grep -q "\"couchdb@$node\""; do
        echo "waiting for couchdb@$node to join"
        sleep 2
    done
done

create() {
    code=$(curl -sS -o /dev/null -w '%{http_code}' -u "$AUTH" -X PUT "http://$FIRST:5984/$1")
    case "$code" in
        201|202|412) echo "database $1: $code" ;;
        *) echo "creating $1 failed: HTTP $code" >&2; exit 1 ;;
    esac
}
for db in _users _replicator _global_changes; do
    create "$db"
done
# fieldsync creates these itself when they are missing, with the cluster's default q
for db in fs_master fs_orders fs_field fs_ops; do
    create "$PREFIX$db?q=$SHARED_Q"
done
echo "cluster ready"
