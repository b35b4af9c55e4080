/*
 * CUnit tests of the peer authentication (replicator/peer/peer_auth.c).
 * The generic HMAC is checked against RFC 4231 first, then the protocol's
 * input layout against that HMAC and against the literal vector of
 * docs/protocol.md ("AUTH response"), which was cross-checked with the
 * openssl command line.
 */
#undef NDEBUG
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "peer/peer_proto.h"

#include "../cunit_main.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char secret[] = "correct horse battery staple";
#define SECRET_LEN (sizeof(secret) - 1)

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	assert(strlen(hex) == 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		int r = sscanf(hex + 2 * i, "%2x", &v);

		assert(r == 1);
		out[i] = (uint8_t)v;
	}
}

static void challenge_seq(uint8_t c[PEER_CHALLENGE_SIZE])
{
	for (unsigned i = 0; i < PEER_CHALLENGE_SIZE; i++)
		c[i] = (uint8_t)i;
}

/* RFC 4231 section 4: test cases 1, 2 and 6 (key longer than a block). */
static void test_hmac_rfc4231(void)
{
	uint8_t key1[20], key6[131], mac[32], want[32];

	memset(key1, 0x0b, sizeof(key1));
	CU_ASSERT_EQUAL(peer_hmac_sha256(key1, sizeof(key1), "Hi There", 8,
					 mac), 0);
	unhex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	      want, 32);
	CU_ASSERT_EQUAL(memcmp(mac, want, 32), 0);

	CU_ASSERT_EQUAL(peer_hmac_sha256("Jefe", 4,
					 "what do ya want for nothing?", 28,
					 mac), 0);
	unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	      want, 32);
	CU_ASSERT_EQUAL(memcmp(mac, want, 32), 0);

	memset(key6, 0xaa, sizeof(key6));
	CU_ASSERT_EQUAL(peer_hmac_sha256(key6, sizeof(key6),
			"Test Using Larger Than Block-Size Key - Hash Key First",
			54, mac), 0);
	unhex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	      want, 32);
	CU_ASSERT_EQUAL(memcmp(mac, want, 32), 0);
}

/* The documented input layout, built by hand, through the generic HMAC. */
static void test_auth_layout(void)
{
	uint8_t c[32], msg[32 + 1 + 5 + 12], mac[32], want[32];

	challenge_seq(c);
	memcpy(msg, c, 32);
	msg[32] = 5;
	memcpy(msg + 33, "alpha", 5);
	memcpy(msg + 38, "repd-auth-v1", 12);
	CU_ASSERT_EQUAL(peer_hmac_sha256(secret, SECRET_LEN, msg, sizeof(msg),
					 want), 0);
	CU_ASSERT_EQUAL(peer_auth_compute(secret, SECRET_LEN, c, "alpha",
					  mac), 0);
	CU_ASSERT_EQUAL(memcmp(mac, want, 32), 0);
}

/* docs/protocol.md "AUTH response". */
static void test_auth_doc_vector(void)
{
	uint8_t c[32], mac[32], want[32];

	challenge_seq(c);
	unhex("207b9d84900b4b78c9bfaa35d0a407ea1e9e70242827660b9fdd9f7db2027348",
	      want, 32);
	CU_ASSERT_EQUAL(peer_auth_compute(secret, SECRET_LEN, c, "alpha",
					  mac), 0);
	CU_ASSERT_EQUAL(memcmp(mac, want, 32), 0);
	CU_ASSERT_EQUAL(peer_auth_verify(secret, SECRET_LEN, c, "alpha",
					 want), 0);
}

static void test_verify_accepts(void)
{
	uint8_t c[32], mac[32];

	CU_ASSERT_EQUAL(peer_challenge_new(c), 0);
	CU_ASSERT_EQUAL(peer_auth_compute(secret, SECRET_LEN, c, "node-b",
					  mac), 0);
	CU_ASSERT_EQUAL(peer_auth_verify(secret, SECRET_LEN, c, "node-b",
					 mac), 0);
}

static void test_verify_rejects_wrong_secret(void)
{
	static const char *const wrong[] = {
		"correct horse battery stapl", "correct horse battery staplE",
		"correct horse battery staple ", "x",
	};
	uint8_t c[32], mac[32];

	challenge_seq(c);
	for (size_t i = 0; i < ARRAY_SIZE(wrong); i++) {
		CU_ASSERT_EQUAL(peer_auth_compute(wrong[i], strlen(wrong[i]),
						  c, "alpha", mac), 0);
		CU_ASSERT_EQUAL(peer_auth_verify(secret, SECRET_LEN, c,
						 "alpha", mac), -EACCES);
	}
}

static void test_verify_rejects_wrong_challenge(void)
{
	uint8_t c[32], c2[32], mac[32];

	challenge_seq(c);
	CU_ASSERT_EQUAL(peer_auth_compute(secret, SECRET_LEN, c, "alpha",
					  mac), 0);
	for (unsigned i = 0; i < 32; i++) {
		memcpy(c2, c, 32);
		c2[i] ^= 0x01;
		CU_ASSERT_EQUAL(peer_auth_verify(secret, SECRET_LEN, c2,
						 "alpha", mac), -EACCES);
	}
}

static void test_verify_rejects_wrong_name_and_mac(void)
{
	uint8_t c[32], mac[32], bad[32];

	challenge_seq(c);
	CU_ASSERT_EQUAL(peer_auth_compute(secret, SECRET_LEN, c, "alpha",
					  mac), 0);
	CU_ASSERT_EQUAL(peer_auth_verify(secret, SECRET_LEN, c, "alphb", mac),
			-EACCES);
	CU_ASSERT_EQUAL(peer_auth_verify(secret, SECRET_LEN, c, "alph", mac),
			-EACCES);
	/*
	 * Reflection: a node's own response to a challenge never verifies
	 * as the peer's answer to that same challenge.
	 */
	CU_ASSERT_EQUAL(peer_auth_verify(secret, SECRET_LEN, c, "beta", mac),
			-EACCES);
	for (unsigned i = 0; i < 32 * 8; i++) {
		memcpy(bad, mac, 32);
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		CU_ASSERT_EQUAL(peer_auth_verify(secret, SECRET_LEN, c,
						 "alpha", bad), -EACCES);
	}
	memset(bad, 0, 32);
	CU_ASSERT_EQUAL(peer_auth_verify(secret, SECRET_LEN, c, "alpha", bad),
			-EACCES);
}

static void test_auth_invalid_args(void)
{
	uint8_t c[32], mac[32] = { 0 }, big[PEER_SECRET_MAX + 1];

	challenge_seq(c);
	memset(big, 's', sizeof(big));
	mac[0] = 0x5a;
	CU_ASSERT_EQUAL(peer_auth_compute(secret, 0, c, "alpha", mac),
			-EINVAL);
	CU_ASSERT_EQUAL(mac[0], 0x5a);	/* untouched */
	CU_ASSERT_EQUAL(peer_auth_compute(big, sizeof(big), c, "alpha", mac),
			-EINVAL);
	CU_ASSERT_EQUAL(peer_auth_compute(big, PEER_SECRET_MAX, c, "alpha",
					  mac), 0);
	CU_ASSERT_EQUAL(peer_auth_compute(secret, SECRET_LEN, c, "", mac),
			-EINVAL);
	CU_ASSERT_EQUAL(peer_auth_compute(secret, SECRET_LEN, c, "a b", mac),
			-EINVAL);
	CU_ASSERT_EQUAL(peer_auth_verify(secret, 0, c, "alpha", mac), -EINVAL);
	CU_ASSERT_EQUAL(peer_auth_verify(secret, SECRET_LEN, c, "a/b", mac),
			-EINVAL);
}

static void test_challenge_new(void)
{
	uint8_t a[32], b[32], zero[32] = { 0 };

	CU_ASSERT_EQUAL(peer_challenge_new(a), 0);
	CU_ASSERT_EQUAL(peer_challenge_new(b), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(a, zero, 32), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(a, b, 32), 0);
}

static const struct cunit_test tests[] = {
	{ "HMAC-SHA256: RFC 4231 cases 1, 2, 6", test_hmac_rfc4231 },
	{ "AUTH: documented input layout", test_auth_layout },
	{ "AUTH: docs/protocol.md vector", test_auth_doc_vector },
	{ "verify: accepts the right response", test_verify_accepts },
	{ "verify: rejects a wrong secret", test_verify_rejects_wrong_secret },
	{ "verify: rejects a wrong challenge",
	  test_verify_rejects_wrong_challenge },
	{ "verify: rejects wrong name, reflection, flipped bits",
	  test_verify_rejects_wrong_name_and_mac },
	{ "AUTH: invalid arguments", test_auth_invalid_args },
	{ "challenge: random, not zero", test_challenge_new },
};

int main(void)
{
	return cunit_main("peer_auth", tests, sizeof(tests) / sizeof(tests[0]));
}
