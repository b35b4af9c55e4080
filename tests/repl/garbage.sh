#!/usr/bin/env bash
# garbage.sh: a fake peer made of raw sockets (fakepeer.py).
#
# Against a secondary (its primary not running yet), one connection per
# case: garbage bytes, a header with a bad magic, headers announcing huge
# payloads, a connection closed mid-header and mid-packet, a silent one,
# a wrong AUTH, DATA before AUTH; then, authenticated with the secret,
# malformed packets: DATA past the data area, a bad crc32c, a crc32c
# without its flag, a bad lz4 block, inconsistent lengths, zero length,
# 64 MiB raw_len, an unknown type, a reserved field set, a flag the type
# does not take, an ACK sent to the secondary, TRIM past the end, and DATA
# cut short.  A valid session (DATA, DATA with crc32c, FLUSH: all acked)
# is the positive control.  For every case the secondary must
#   - close the connection (and for a wrong AUTH send REFUSE/EACCES),
#     never ack the bad packet;
#   - log one line giving the reason;
#   - stay alive, and write none of the bad packets' bytes (checked in
#     its backing file, including the metadata after the data area).
# Then the real primary connects, writes and flushes; an unauthenticated
# intruder on the secondary's replication port must not disturb the
# established link; the data areas must be identical after a clean stop.
#
# The reverse: a fake secondary listens where the primary dials and
# misbehaves on each connection (garbage, bad magic, huge length, close
# mid-packet, wrong AUTH, an ACK for a request never sent after a valid
# handshake).  The primary must keep serving NBD writes (continue policy),
# close each connection with a logged reason, keep redialling, and
# connect to the real secondary once it runs there.
. "$(dirname "$0")/lib.sh"
require_python_nbd

fake() { timeout 60 "$PYTHON" "$REPL_DIR/fakepeer.py" "$@"; }

# reason_count NODE: lines saying why a replication connection ended.
reason_re='connection to .* failed|lost peer'
reason_count() { log_count "$1" "$reason_re"; }

# ---------------------------------------------------- fake primary cases

pair_init fake-primary 64M
cfg=$D/r0.conf
write_pair_config "$cfg" ping-interval=0.5 timeout=2
create_md "$cfg" alpha
create_md "$cfg" beta
start_node beta "$cfg"
expect_log beta 'waiting for peer alpha' 10
SIZE=$(md_data_size "$cfg" beta)

# case ERE-for-the-reason (empty: any reason)
cases=(
	"garbage:malformed"
	"bad-magic:malformed"
	"huge-length:malformed"
	"huge-data:malformed"
	"mid-header:closed|EOF|reset"
	"mid-packet:closed|EOF|reset"
	"silent:time"
	"bad-auth:authentication"
	"data-before-auth:malformed|unexpected"
	"valid:"
	"auth-garbage:malformed"
	"past-end:"
	"bad-crc:"
	"crc-without-flag:"
	"bad-lz4:"
	"wire-len-mismatch:"
	"raw-len-huge:"
	"zero-length:"
	"unknown-type:"
	"reserved:"
	"bad-flag:"
	"ack-to-secondary:"
	"trim-past-end:"
	"truncated-data:closed|EOF|reset"
)
for c in "${cases[@]}"; do
	name=${c%%:*} want=${c#*:}
	before=$(reason_count beta)
	out=$(fake client 127.0.0.1 "${REPL_PORT[beta]}" "$name" s3cret 2>&1) || {
		fail_later "fake primary, case $name: $out"
		require_alive beta
		continue
	}
	if ! wait_log beta "$reason_re" 5 $((before + 1)); then
		fail_later "fake primary, case $name ($out): the secondary logged no reason within 5 s"
		continue
	fi
	line=$(grep -E "$reason_re" "${LOG[beta]}" | sed -n "$((before + 1))p")
	log "case $name: $out; secondary: ${line#* repd }"
	if [[ -n $want ]] && ! grep -qE "$want" <<<"$line"; then
		fail_later "fake primary, case $name: the reason '${line#* repd }' does not match /$want/"
	fi
	require_alive beta
done

# the valid session wrote; nothing else did
expect_bytes "${IMG[beta]}" $((8 * 1048576)) 4096 11 "valid DATA"
expect_bytes "${IMG[beta]}" $((8 * 1048576 + 4096)) 4096 22 "valid DATA with crc32c"
expect_bytes "${IMG[beta]}" 0 4096 00 "DATA before AUTH, bad crc32c or crc32c without flag"
expect_bytes "${IMG[beta]}" $((4 * 1048576)) 4096 00 "bad lz4, length mismatch or zero-length DATA"
expect_bytes "${IMG[beta]}" $((12 * 1048576)) 65536 00 "truncated DATA"
expect_bytes "${IMG[beta]}" $((SIZE - 2048)) 2048 00 "DATA past the end (data-area part)"
[[ $(read_hex "${IMG[beta]}" "$SIZE" 2048) != "$(printf '%04096d' 0 | sed 's/00/33/g')" ]] ||
	fail_later "DATA past the end overwrote the metadata after the data area"

# the protocol (docs/protocol.md, "Error handling") requires the header
# bytes in hex in the log line of a malformed packet
grep -qiE 'de ?ad ?be ?ef' "${LOG[beta]}" ||
	fail_later "the secondary's log does not show the malformed header's bytes in hex (bad-magic case: no 'de ad be ef'), as docs/protocol.md requires"

# ------------------------------------------------ then the real primary

start_node alpha "$cfg"
wait_connected
wait_nbd alpha
DATA_SIZE=$(nbd_size alpha)
# cover everything the fake wrote (8 MiB), so the disks can be compared
nbdpy fill "$(uri alpha)" 0 $((16 * 1048576)) random 3 ||
	fail "writing through the primary after the fake peer failed"
nbd_flush alpha

# an intruder without the secret must not break the established link
lost_a=$(log_count alpha 'lost peer') lost_b=$(log_count beta 'lost peer')
for c in garbage intruder; do
	out=$(fake client 127.0.0.1 "${REPL_PORT[beta]}" "$c" s3cret 2>&1) ||
		fail_later "intruder while connected, case $c: $out"
done
sleep 2
if (($(log_count alpha 'lost peer') != lost_a || $(log_count beta 'lost peer') != lost_b)); then
	fail_later "an unauthenticated connection to the secondary's replication port broke the established link: $(grep -h 'lost peer' "${LOG[beta]}" "${LOG[alpha]}" | tail -n 2 | tr '\n' '|')"
	# let the link come back for the rest of the test
	wait_log alpha 'connected to ' 20 2 ||
		fail "the primary did not reconnect within 20 s after the intruder"
fi
nbdpy fill "$(uri alpha)" $((16 * 1048576)) $((4 * 1048576)) random 4 ||
	fail "writing through the primary after the intruder failed"
nbd_flush alpha
require_alive alpha beta
stop_pair
compare_disks
timeout 30 "$REPCTL" dump-md --config "$cfg" --node beta >/dev/null ||
	fail_later "the secondary's metadata is unreadable after the fake peer"

# ---------------------------------------------------- fake secondary

pair_init fake-secondary 64M
cfg=$D/r0.conf
write_pair_config "$cfg" ping-interval=0.5 timeout=2
create_md "$cfg" alpha
create_md "$cfg" beta
"$PYTHON" "$REPL_DIR/fakepeer.py" server 127.0.0.1 "${REPL_PORT[beta]}" 9 s3cret \
	"$D/fake.json" >"$D/fake.log" 2>&1 &
fake_pid=$!
track_pid "$fake_pid"
add_log "$D/fake.log"
sleep 0.3	# listening
start_node alpha "$cfg"
wait_nbd alpha
# writes keep succeeding while the "secondary" misbehaves
for i in 0 1 2 3; do
	nbdpy fill "$(uri alpha)" $((i * 1048576)) 1048576 random "$i" ||
		fail "NBD write $i through the primary failed while its peer sends garbage"
	sleep 1
done
nbd_flush alpha
wait_gone "$fake_pid" 20 || fail "the fake secondary did not finish within 20 s"
wait "$fake_pid" || fail "the fake secondary failed: $(cat "$D/fake.log")"
untrack_pid "$fake_pid"
sed 's/^/    fake secondary: /' "$D/fake.log" >&2
conns=$(grep -c '^connection ' "$D/fake.log" || :)
((conns >= 4)) ||
	fail_later "the primary dialled the fake secondary $conns times in 9 s, want >= 4 (redial with backoff)"
if grep -q 'FAIL' "$D/fake.log"; then
	fail_later "the primary mishandled a fake secondary's connection: $(grep FAIL "$D/fake.log" | tr '\n' '|')"
fi
n=$(log_count alpha 'connection to beta.* failed|lost peer beta')
((n >= conns)) ||
	fail_later "the primary logged $n reasons for $conns failed connections"
grep -qE 'malformed' "${LOG[alpha]}" ||
	fail_later "the primary's log never says 'malformed'"
grep -qiE 'authenticat' "${LOG[alpha]}" ||
	fail_later "the primary's log does not mention the failed authentication"
require_alive alpha

# still redialling: the real secondary on that port gets connected
start_node beta "$cfg"
wait_connected 25
require_alive alpha beta
stop_pair
finish
