/*
 * Writes the seed corpus of fuzz-peer-proto into DIR: one file per
 * scenario, each a byte stream as a peer would send it. Built on demand
 * (ninja tests/fuzz/peer/peer-gen-corpus); rerun and commit the result
 * when the protocol changes:
 *   build/tests/fuzz/peer/peer-gen-corpus tests/fuzz/peer/corpus
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer/peer_proto.h"

static uint8_t buf[1 << 20];
static size_t n;
static const char *dir;

static void add(int r)
{
	assert(r > 0);
	n += (size_t)r;
}

static void add_bytes(const void *p, size_t len)
{
	memcpy(buf + n, p, len);
	n += len;
}

static void emit(const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	n = 0;
}

static struct peer_hello hello(const char *node, uint32_t id)
{
	struct peer_hello h = {
		.version_min = 1, .version_max = 1, .node_id = id,
		.features = PEER_FEATURES_KNOWN,
		.data_size = UINT64_C(1) << 30, .role = PEER_ROLE_PRIMARY,
		.md_flags = 0x41, .uuid_current = 0x1234,
		.uuid_history = { 0x99, 0 },
		.resource = "r0",
	};

	for (unsigned i = 0; i < PEER_CHALLENGE_SIZE; i++)
		h.challenge[i] = (uint8_t)(0xa0 + i);
	snprintf(h.node_name, sizeof(h.node_name), "%s", node);
	return h;
}

static void text(uint8_t *p, size_t len)
{
	static const char w[] = "the quick brown fox jumps over the lazy dog ";

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)w[i % (sizeof(w) - 1)];
}

/* DATA or RS_DATA of len text bytes, compressed when asked. */
static void data(uint16_t type, uint64_t seq, uint64_t off, uint32_t len,
		 uint16_t flags)
{
	static uint8_t raw[65536], z[65536];
	struct peer_data d = { .flags = flags, .offset = off,
			       .raw_len = len, .wire_len = len };
	const uint8_t *payload = raw;

	text(raw, len);
	if (flags & PEER_F_CHECKSUM)
		d.crc32c = peer_crc32c(raw, len);
	if (flags & PEER_F_COMPRESSED) {
		int zl = peer_lz4_compress(raw, len, z, len - 1);

		assert(zl > 0);
		d.wire_len = (uint32_t)zl;
		payload = z;
	}
	add(type == PEER_DATA ?
	    peer_encode_data(buf + n, sizeof(buf) - n, seq, &d) :
	    peer_encode_rs_data(buf + n, sizeof(buf) - n, seq, &d));
	add_bytes(payload, d.wire_len);
}

static void handshake(void)
{
	struct peer_hello h = hello("alpha", 1);
	uint8_t mac[PEER_MAC_SIZE];

	add(peer_encode_hello(buf + n, sizeof(buf) - n, &h));
	assert(peer_auth_compute("secret", 6, h.challenge, "beta", mac) == 0);
	add(peer_encode_auth(buf + n, sizeof(buf) - n, mac));
	add(peer_encode_auth_ok(buf + n, sizeof(buf) - n));
}

static void writes(void)
{
	struct peer_range t = { .flags = PEER_F_FUA, .offset = 8192,
				.len = 1 << 20 };
	struct peer_range z = { .flags = PEER_F_NO_HOLE | PEER_F_RECV_ACK,
				.offset = 0, .len = 4096 };

	data(PEER_DATA, 1, 0, 4096, PEER_F_CHECKSUM | PEER_F_FUA);
	data(PEER_DATA, 2, 4096, 8192,
	     PEER_F_COMPRESSED | PEER_F_CHECKSUM | PEER_F_RECV_ACK);
	data(PEER_DATA, 3, 1, 3, 0);
	add(peer_encode_trim(buf + n, sizeof(buf) - n, 4, &t));
	add(peer_encode_write_zeroes(buf + n, sizeof(buf) - n, 5, &z));
	add(peer_encode_flush(buf + n, sizeof(buf) - n, 6));
}

static void replies(void)
{
	add(peer_encode_ack_recv(buf + n, sizeof(buf) - n, 2));
	add(peer_encode_ack_write(buf + n, sizeof(buf) - n, 1));
	add(peer_encode_nack(buf + n, sizeof(buf) - n, 3, EIO));
	add(peer_encode_ping(buf + n, sizeof(buf) - n, 7, 123456789));
	add(peer_encode_pong(buf + n, sizeof(buf) - n, 9, 987654321));
}

static void resync(void)
{
	static const uint8_t bits[16] = { 0xff, 0, 0, 0x80, 0, 0, 0, 1 };
	uint64_t hashes[4] = { 1, 2, 3, 4 };
	struct peer_rs_request q = { .offset = 4096, .len = 65536 };
	struct peer_rs_hash h = { .offset = 0, .len = 4 * 4096 - 100,
				  .block_size = 4096 };
	struct peer_bitmap b = { .first_bit = 128, .granularity = 4096,
				 .n_bytes = 16, .bits = bits, .last = true };
	struct peer_state s = { .role = PEER_ROLE_SECONDARY,
				.disk = PEER_DISK_INCONSISTENT,
				.repl = PEER_REPL_SYNC_TARGET };

	add(peer_encode_state(buf + n, sizeof(buf) - n, 0, &s));
	add(peer_encode_bitmap(buf + n, sizeof(buf) - n, 0, &b));
	add(peer_encode_rs_request(buf + n, sizeof(buf) - n, 10, &q));
	add(peer_encode_rs_hash(buf + n, sizeof(buf) - n, 11, &h, hashes));
	data(PEER_RS_DATA, 10, 4096, 65536, PEER_F_COMPRESSED);
	data(PEER_RS_DATA, 11, 0, 4096, PEER_F_CHECKSUM);
}

int main(int argc, char **argv)
{
	struct peer_hello h;
	size_t start;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];

	handshake();
	emit("handshake");

	/* a HELLO from a later version: 76 extra bytes */
	h = hello("beta", 2);
	h.version_max = 3;
	add(peer_encode_hello(buf + n, sizeof(buf) - n, &h));
	buf[8 + 2] = 0x01;	/* length 224 -> 300 */
	buf[8 + 3] = 0x2c;
	memset(buf + n, 0xee, 76);
	n += 76;
	emit("hello-extended");

	/* a HELLO that fails the check: other resource, other size */
	h = hello("gamma", 3);
	snprintf(h.resource, sizeof(h.resource), "other");
	h.data_size = 4096;
	add(peer_encode_hello(buf + n, sizeof(buf) - n, &h));
	emit("hello-mismatch");

	/* a HELLO with a bad name byte */
	h = hello("delta", 4);
	add(peer_encode_hello(buf + n, sizeof(buf) - n, &h));
	buf[24 + 98] = '/';
	emit("hello-bad-name");

	add(peer_encode_refuse(buf + n, sizeof(buf) - n, ERANGE,
			       "size mismatch: local 1073741824 bytes, peer "
			       "4096 bytes"));
	emit("refuse");

	writes();
	emit("writes");
	replies();
	emit("replies");
	resync();
	emit("resync");

	/* DATA whose lz4 payload is damaged, then one with a wrong crc */
	start = n;
	data(PEER_DATA, 1, 0, 8192, PEER_F_COMPRESSED | PEER_F_CHECKSUM);
	buf[start + 48 + 3] ^= 0xff;
	emit("data-lz4-corrupt");
	start = n;
	data(PEER_DATA, 1, 0, 512, PEER_F_CHECKSUM);
	buf[start + 24 + 16] ^= 0x01;
	emit("data-bad-crc");

	/* DATA cut short inside its payload, and inside its fixed part */
	data(PEER_DATA, 1, 0, 4096, 0);
	n -= 100;
	emit("data-truncated");
	data(PEER_DATA, 1, 0, 4096, 0);
	n = 24 + 10;
	emit("data-fixed-truncated");

	/* not our magic at all, and half a header */
	add_bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
	emit("garbage");
	handshake();
	n = 13;
	emit("header-truncated");

	/* everything in one session */
	handshake();
	writes();
	replies();
	resync();
	add(peer_encode_refuse(buf + n, sizeof(buf) - n, EBADMSG, "bye"));
	emit("session");
	return 0;
}
