#!/usr/bin/env bash
# reply-batch.sh: replies that become ready in one turn of repd's event
# loop leave in one sendmsg after it (engine_defer), not one by one. 64
# small READs of cached data, sent in one segment, all complete in the
# same completion batch; their 64 replies must then reach the client in
# one TCP segment (TCP_INFO's tcpi_data_segs_in on the client's socket).
# Sending the first reply at once, as before, took two per burst.
# Then 300 WRITEs one at a time: the replies repd holds back to share a
# send (reply_hold.c) must still leave once the loop has nothing to do.
. "$(dirname "$0")/lib.sh"
[[ $INTEROP_SERVER == repd ]] || skip "repd's own batching"

DIRECT_IO_LINE="direct-io = no"	# every READ completes inline at submit
img=$T/disk.img
sparse_image "$img" 8M
fill_at "$img" 0 4 /dev/urandom
serve "$img" tcp

timeout 60 "$PYTHON" - 127.0.0.1 "$PORT" "$img" <<'EOF_PY' || fail "the READ bursts failed"
import socket, struct, sys

host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
IHAVEOPT = 0x49484156454F5054
REQ_MAGIC, SIMPLE_MAGIC = 0x25609513, 0x67446698
OPT_GO, REP_ACK, CMD_READ = 7, 1, 0
TCPI_DATA_SEGS_IN = 152   # offset in struct tcp_info (Linux 4.6 and later)
BURSTS, READS, LEN = 8, 64, 16
SERIAL_WRITES = 300

def recvn(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            sys.exit("FAIL: repd closed the connection")
        b += chunk
    return b

def data_segs_in(s):
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < TCPI_DATA_SEGS_IN + 4:
        sys.exit("FAIL: TCP_INFO too short (%d bytes)" % len(info))
    return struct.unpack_from("=I", info, TCPI_DATA_SEGS_IN)[0]

s = socket.create_connection((host, port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
hello = recvn(s, 18)
if hello[:8] != b"NBDMAGIC" or struct.unpack(">Q", hello[8:16])[0] != IHAVEOPT:
    sys.exit("FAIL: not a newstyle greeting")
s.sendall(struct.pack(">I", 3))                 # FIXED_NEWSTYLE | NO_ZEROES
name = b""
s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 6 + len(name)) +
          struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
for _ in range(16):
    magic, opt, typ, n = struct.unpack(">QIII", recvn(s, 20))
    recvn(s, n)
    if typ == REP_ACK:
        break
    if typ & 0x80000000:
        sys.exit("FAIL: NBD_OPT_GO refused (reply type %#x)" % typ)
else:
    sys.exit("FAIL: no NBD_REP_ACK to NBD_OPT_GO")

with open(path, "rb") as f:
    image = f.read()
segs = []
for burst in range(BURSTS):
    reqs = b"".join(struct.pack(">IHHQQI", REQ_MAGIC, 0, CMD_READ,
                                burst * READS + i, (burst * READS + i) * 4096, LEN)
                    for i in range(READS))
    before = data_segs_in(s)
    s.sendall(reqs)
    got = {}
    for _ in range(READS):
        magic, err, cookie = struct.unpack(">IIQ", recvn(s, 16))
        if magic != SIMPLE_MAGIC or err != 0:
            sys.exit("FAIL: reply magic %#x error %d" % (magic, err))
        got[cookie] = recvn(s, LEN)
    for cookie, data in got.items():
        if data != image[cookie * 4096:cookie * 4096 + LEN]:
            sys.exit("FAIL: READ %d returned the wrong bytes" % cookie)
    if len(got) != READS:
        sys.exit("FAIL: %d distinct replies to %d READs" % (len(got), READS))
    segs.append(data_segs_in(s) - before)
# A client that waits for each reply before it sends the next request:
# repd's probes hold a reply back (reply_hold.c), and the loop, finding
# nothing else to do, must send it (checked below: io.reply_hold_giveups).
# A held reply that nothing released would hang this loop.
for i in range(SERIAL_WRITES):
    s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, 1, 1 << 20 | i,
                          4 << 20, 4096) + bytes([i & 0xff]) * 4096)
    magic, err, cookie = struct.unpack(">IIQ", recvn(s, 16))
    if magic != SIMPLE_MAGIC or err != 0 or cookie != 1 << 20 | i:
        sys.exit("FAIL: WRITE %d: reply magic %#x error %d cookie %#x"
                 % (i, magic, err, cookie))
s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, 2, 0, 0, 0))    # DISC
s.close()
print("segments per burst of %d replies: %s" % (READS, segs))
# one segment each; one burst in four may split (a completion that
# misses the batch) before this counts as sending one by one
if sum(segs) > BURSTS + BURSTS // 4:
    sys.exit("FAIL: %d segments for %d bursts of %d replies, want at most %d"
             % (sum(segs), BURSTS, READS, BURSTS + BURSTS // 4))
EOF_PY

# Every serial WRITE came back; the held ones were released because the
# loop went idle (not by the age limit, which only a loop woken by
# something else, like its 1 s tick, would apply), never as a batch:
# one reply at a time is all there was.
read -r batches giveups expired < <(timeout 10 "$REPCTL" status --config "$CFG" \
	--node alpha --json | "$PYTHON" -c 'import json, sys
io = json.load(sys.stdin)["io"]
print(io["reply_batches"], io["reply_hold_giveups"], io["reply_hold_expired"])') ||
	fail "repctl status --json failed"
((giveups >= 1)) || fail "io.reply_hold_giveups is '$giveups' after 300 serial WRITEs, want >= 1"
((expired == 0)) || fail "io.reply_hold_expired is '$expired': held replies waited for the age limit, not for the loop to idle"
((batches == 0)) || fail "io.reply_batches is '$batches' with one reply in flight at a time, want 0"
log "serial WRITEs: $giveups held replies released by an idle loop"

stop_repd
log "PASS"
