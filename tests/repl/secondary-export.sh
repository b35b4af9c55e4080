#!/usr/bin/env bash
# secondary-export.sh: NBD clients of the secondary.
#   - default (secondary-reads unset): nbdinfo against the secondary fails
#     and the error reply to NBD_OPT_GO carries a message saying the node
#     is secondary;
#   - secondary-reads = yes: the export is read-only (nbdinfo --json
#     is_read_only true), a write sent anyway (libnbd's client-side check
#     off) is refused, reads return what the primary wrote (after its
#     flush), and the refused write changed nothing: after a clean stop
#     both data areas are identical.
. "$(dirname "$0")/lib.sh"
require_cmd nbdcopy
require_python_nbd

pair_init secondary-export 64M
cfg=$D/r0.conf
write_pair_config "$cfg"
start_pair "$cfg"
# nbdinfo prints only libnbd's summary of the error reply; the server's
# message is in libnbd's debug output ("server error message: ...")
rc=0
out=$(LIBNBD_DEBUG=1 timeout 10 nbdinfo "$(uri beta)" 2>&1) || rc=$?
log "nbdinfo $(uri beta): status $rc"
((rc != 0)) || fail "nbdinfo against the secondary succeeded, want a refusal"
msg=$(grep -m1 'nbd_opt_go: .*server error message:' <<<"$out") ||
	fail "the secondary's NBD_OPT_GO error reply carries no message: $out"
log "server message: ${msg#*server error message: }"
grep -qi 'secondary' <<<"$msg" ||
	fail "the secondary's error message does not say the node is secondary: $msg"
require_alive alpha beta
nbdpy fill "$(uri alpha)" 0 $((8 * 1048576)) random 1 || fail "write through the primary"
stop_pair

# secondary-reads = yes, same images and metadata
cfg2=$D/r0-reads.conf
write_pair_config "$cfg2" secondary-reads=yes
start_node beta "$cfg2"
start_node alpha "$cfg2"
wait_connected
wait_nbd alpha
wait_nbd beta
json=$(timeout 10 nbdinfo --json "$(uri beta)") || fail "nbdinfo --json $(uri beta) failed"
ro=$("$PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1])["exports"][0]["is_read_only"])' "$json") ||
	fail "cannot parse nbdinfo --json: $json"
[[ $ro == True ]] || fail "secondary-reads = yes: is_read_only is $ro, want true"
out=$(nbdpy try-write "$(uri beta)" 2>&1) || fail "secondary export: $out"
log "$out"
require_alive alpha beta

# reads from the secondary see the primary's writes once flushed
nbdpy fill "$(uri alpha)" $((8 * 1048576)) $((8 * 1048576)) text 2 || fail "write through the primary"
nbd_flush alpha
a=$(timeout 60 nbdcopy "$(uri alpha)" - | sha256sum) || fail "nbdcopy from the primary"
b=$(timeout 60 nbdcopy "$(uri beta)" - | sha256sum) || fail "nbdcopy from the secondary"
[[ $a == "$b" ]] ||
	fail "the secondary's export (sha256 ${b%% *}) differs from the primary's (${a%% *}) after a flush"
require_alive alpha beta
stop_pair
compare_disks
expect_out_of_sync alpha -eq 0
