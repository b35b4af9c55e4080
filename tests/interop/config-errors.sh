#!/usr/bin/env bash
# config-errors.sh: every config error makes repd exit non-zero with one
# line "repd: FILE:LINE: ..." naming the offending key; a valid config runs.
. "$(dirname "$0")/lib.sh"

[[ $INTEROP_SERVER == repd ]] || skip "repd-only test"

disk=$T/disk.img
sparse_image "$disk" 16M
port=$(free_port 4)
nfail=0

# mkcfg LINE...: write the lines to a fresh config file, set $cfg.
ncfg=0
mkcfg() {
	ncfg=$((ncfg + 1))
	cfg=$T/bad.$ncfg.conf
	printf '%s\n' "$@" >"$cfg"
}

# expect_error NAME LINE KEY-ERE: run repd on $cfg; want exit != 0 within
# 10 s and exactly one output line "repd: $cfg:LINE: MESSAGE" with
# MESSAGE matching KEY-ERE.  LINE "any" accepts any line number; "none"
# also accepts "repd: $cfg: MESSAGE" (a section that is absent has no line).
expect_error() {
	local name=$1 line=$2 key=$3 rc=0 out nlines lre
	out=$(timeout -k 2 10 "$REPD" --config "$cfg" --node alpha --foreground \
		</dev/null 2>&1) || rc=$?
	case $line in
	any)	lre=':[0-9]+' ;;
	none)	lre='(:[0-9]+)?' ;;
	*)	lre=":$line" ;;
	esac
	nlines=$(printf '%s' "$out" | grep -c . || :)
	if ((rc == 0)); then
		log "$name: FAIL: exit status 0, want non-zero"
	elif ((rc == 124 || rc == 137)); then
		log "$name: FAIL: repd still running after 10 s (status $rc)"
	elif ((nlines != 1)); then
		log "$name: FAIL: want exactly one line of output, got $nlines"
	elif ! grep -Eq "^repd: ${cfg//./\\.}$lre: " <<<"$out"; then
		case $line in
		any)	line=LINE ;;
		none)	line='[LINE]' ;;
		esac
		log "$name: FAIL: want the line to start with 'repd: $cfg:$line: '"
	elif ! grep -Eq -- "$key" <<<"${out#"repd: $cfg"*: }"; then
		log "$name: FAIL: message does not name /$key/"
	else
		log "$name: PASS ($out)"
		return 0
	fi
	printf '    config:\n' >&2
	nl -ba "$cfg" | sed 's/^/    /' >&2
	printf '    output (status %d):\n%s\n' "$rc" "$(sed 's/^/    /' <<<"$out")" >&2
	nfail=$((nfail + 1))
}

res=("[resource]" "name = r0")
node=("[node alpha]" "disk = $disk" "nbd = 127.0.0.1:$port" "control = $T/ctl.sock")

# Metadata on the disk (internal, the default), so that a config error is
# the only thing wrong in each case below.
mkcfg "${res[@]}" "${node[@]}"
create_md "$cfg"
base_cfg=$cfg

mkcfg "${res[@]}" "bogus-key = 1" "${node[@]}"
expect_error unknown-key-resource 3 'bogus-key'

mkcfg "${res[@]}" "${node[@]}" "colour = blue"
expect_error unknown-key-node 7 'colour'

mkcfg "[resource]" "description = no name here" "${node[@]}"
expect_error missing-name any '\<name\>'

mkcfg "${res[@]}" "[node alpha]" "nbd = 127.0.0.1:$port" "control = $T/ctl.sock"
expect_error missing-disk-key any '\<disk\>'

mkcfg "${res[@]}" "[node alpha]" "disk = $disk" "control = $T/ctl.sock"
expect_error missing-nbd-key any '\<nbd\>'

mkcfg "${res[@]}" "[node alpha]" "disk = $disk" "nbd = 127.0.0.1:$port"
expect_error missing-control-key any '\<control\>'

mkcfg "${res[@]}"
expect_error missing-node-section none '\<alpha\>'

mkcfg "${res[@]}" "[node beta]" "${node[@]:1}"
expect_error only-other-node-section none '\<alpha\>'

mkcfg "${node[@]}"
expect_error missing-resource-section none '\<resource\>'

mkcfg "${res[@]}" "[node alpha]" "disk = $T/no-such-disk.img" "nbd = 127.0.0.1:$port" \
	"control = $T/ctl.sock"
expect_error missing-disk-file 4 '\<disk\>'

mkcfg "${res[@]}" "this line is not a key" "${node[@]}"
expect_error malformed-line 3 '.'

mkcfg "${res[@]}" "${node[@]}" "control-group = no-such-group-r3pd"
expect_error unknown-control-group 7 'control-group.*no-such-group-r3pd'

mkcfg "${res[@]}" "${node[@]:0:2}" "nbd = 127.0.0.1" "control = $T/ctl.sock"
expect_error bad-nbd-address 5 '\<nbd\>'

mkcfg "${res[@]}" "direct-io = maybe" "${node[@]}"
expect_error bad-direct-io-value 3 'direct-io'

# busy-poll: whole microseconds 0..1000, in [resource] or a node section
mkcfg "${res[@]}" "busy-poll = 5000" "${node[@]}"
expect_error busy-poll-too-long 3 'busy-poll.*0 to 1000'
mkcfg "${res[@]}" "busy-poll = -5" "${node[@]}"
expect_error busy-poll-negative 3 'busy-poll'
mkcfg "${res[@]}" "${node[@]}" "busy-poll = 50us"
expect_error busy-poll-unit-in-node 7 'busy-poll.*microseconds'

# cpu: a CPU number 0..1023, "any" or "auto"; one this host lacks fails at
# start
mkcfg "${res[@]}" "cpu = 1024" "${node[@]}"
expect_error cpu-too-high 3 'cpu.*0 to 1023'
mkcfg "${res[@]}" "${node[@]}" "cpu = first"
expect_error cpu-not-a-number 7 "cpu.*'any' or 'auto'"
mkcfg "${res[@]}" "${node[@]}" "cpu = Auto"
expect_error cpu-auto-is-lower-case 7 "cpu.*'any' or 'auto', not 'Auto'"
if (($(nproc --all) < 1024)); then
	mkcfg "${res[@]}" "cpu = 1023" "${node[@]}"
	expect_error cpu-missing 3 'cpu: cannot run on CPU 1023: Invalid argument'
fi

# [handlers]: each on-EVENT is the absolute path of an executable file,
# checked at load; timeout is whole seconds 1..3600; no other keys.
printf '#!/bin/sh\nexit 0\n' >"$T/handler.sh"
chmod 755 "$T/handler.sh"
printf '#!/bin/sh\nexit 0\n' >"$T/noexec.sh"
chmod 644 "$T/noexec.sh"
hdr=("${res[@]}" "${node[@]}" "[handlers]")	# the key is on line 8

mkcfg "${hdr[@]}" "on-split-brain = handler.sh"
expect_error handler-relative-path 8 'on-split-brain.*absolute'

mkcfg "${hdr[@]}" "on-peer-lost = $T/noexec.sh"
expect_error handler-not-executable 8 'on-peer-lost.*executable'

mkcfg "${hdr[@]}" "on-io-error = $T/no-such-handler"
expect_error handler-missing 8 'on-io-error.*No such file'

mkcfg "${hdr[@]}" "on-resync-done = $T"
expect_error handler-is-directory 8 'on-resync-done.*executable'

mkcfg "${hdr[@]}" "on-role-change = $T/handler.sh" "timeout = 0"
expect_error handler-timeout-zero 9 '\<timeout\>.*\[handlers\]'

mkcfg "${hdr[@]}" "timeout = 3601"
expect_error handler-timeout-too-long 8 '\<timeout\>.*\[handlers\]'

mkcfg "${hdr[@]}" "timeout = 1.5"
expect_error handler-timeout-not-integer 8 '\<timeout\>.*\[handlers\]'

mkcfg "${hdr[@]}" "on-reboot = $T/handler.sh"
expect_error handler-unknown-key 8 "unknown key 'on-reboot' in \\[handlers\\]"

mkcfg "${hdr[@]}" "on-peer-lost = $T/handler.sh" "on-peer-lost = $T/handler.sh"
expect_error handler-duplicate-key 9 'duplicate.*on-peer-lost'

# Port in use: a listener we own holds the port.
"$PYTHON" - "$T/busy.port" <<'EOF' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d\n" % s.getsockname()[1])
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(60)
EOF
holder=$!
track_pid "$holder"
for ((i = 0; i < 50; i++)); do
	[[ -s $T/busy.port ]] && break
	sleep 0.1
done
[[ -s $T/busy.port ]] || fail "port holder did not start"
busy=$(<"$T/busy.port")
mkcfg "${res[@]}" "${node[@]:0:2}" "nbd = 127.0.0.1:$busy" "control = $T/ctl.sock"
expect_error port-in-use 5 '\<nbd\>'
stop_pid "$holder" 5

# A repd that refused to start must leave the metadata as it found it:
# clean, so the next start does not treat the disk as crashed.
if (check_clean_md "$base_cfg"); then
	log "metadata still clean after the failed starts: PASS"
else
	log "metadata-clean-after-failed-starts: FAIL (see above)"
	nfail=$((nfail + 1))
fi

# Positive control: the same skeleton with nothing wrong serves and stops.
mkcfg "${res[@]}" ${DIRECT_IO_LINE:+"$DIRECT_IO_LINE"} "${node[@]}" "cpu = any" \
	"[handlers]" "on-split-brain = $T/handler.sh" "timeout = 5"
start_repd "$cfg"
wait_ready "nbd://127.0.0.1:$port/r0"
mode=$(stat -c '%a %U' "$T/ctl.sock")
[[ $mode == "600 root" ]] || fail "control socket is '$mode', want '600 root'"
stop_repd
log "valid-config: PASS (control socket $mode)"

# control-group: the socket belongs to that group, mode 0660
if getent group daemon >/dev/null; then
	mkcfg "${res[@]}" ${DIRECT_IO_LINE:+"$DIRECT_IO_LINE"} "${node[@]}" \
		"control-group = daemon"
	start_repd "$cfg"
	wait_ready "nbd://127.0.0.1:$port/r0"
	mode=$(stat -c '%a %G' "$T/ctl.sock")
	[[ $mode == "660 daemon" ]] || fail "control socket is '$mode' with control-group = daemon, want '660 daemon'"
	stop_repd
	log "control-group: PASS (control socket $mode)"
fi

((nfail == 0)) || fail "$nfail config error case(s) failed"
