/*
 * Peer authentication: HMAC-SHA256 challenge-response with the shared
 * secret, both directions (docs/protocol.md "Authentication"). The only
 * file of the peer codec that includes OpenSSL. No I/O beyond the
 * CSPRNG, no logging.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "peer_proto.h"

/*
 * Domain label, last in the MAC input: a MAC made for this handshake can
 * never be mistaken for another use of the same secret. The direction
 * (who answers whom) is bound by the responder's node name, and
 * peer_hello_check() refuses two nodes with the same name, so a MAC
 * reflected back at its maker never verifies.
 */
#define AUTH_LABEL	"repd-auth-v1"
#define AUTH_LABEL_LEN	(sizeof(AUTH_LABEL) - 1)

int peer_hmac_sha256(const void *key, size_t key_len, const void *data,
		     size_t data_len, uint8_t ret_mac[PEER_MAC_SIZE])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (key_len > (size_t)INT32_MAX)
		return -EINVAL;
	if (!HMAC(EVP_sha256(), key, (int)key_len, data, data_len, mac,
		  &mac_len) || mac_len != PEER_MAC_SIZE)
		return -EIO;
	memcpy(ret_mac, mac, PEER_MAC_SIZE);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

int peer_auth_compute(const void *secret, size_t secret_len,
		      const uint8_t challenge[PEER_CHALLENGE_SIZE],
		      const char *node_name, uint8_t ret_mac[PEER_MAC_SIZE])
{
	uint8_t msg[PEER_CHALLENGE_SIZE + 1 + PEER_NAME_MAX + AUTH_LABEL_LEN];
	size_t name_len, n = 0;

	if (secret_len == 0 || secret_len > PEER_SECRET_MAX ||
	    !peer_name_valid(node_name))
		return -EINVAL;
	name_len = strlen(node_name);
	/* challenge || u8 name length || name || label */
	memcpy(msg, challenge, PEER_CHALLENGE_SIZE);
	n += PEER_CHALLENGE_SIZE;
	msg[n++] = (uint8_t)name_len;
	memcpy(msg + n, node_name, name_len);
	n += name_len;
	memcpy(msg + n, AUTH_LABEL, AUTH_LABEL_LEN);
	n += AUTH_LABEL_LEN;
	return peer_hmac_sha256(secret, secret_len, msg, n, ret_mac);
}

int peer_auth_verify(const void *secret, size_t secret_len,
		     const uint8_t challenge[PEER_CHALLENGE_SIZE],
		     const char *peer_name, const uint8_t mac[PEER_MAC_SIZE])
{
	uint8_t want[PEER_MAC_SIZE];
	int r;

	r = peer_auth_compute(secret, secret_len, challenge, peer_name, want);
	if (r < 0)
		return r;
	/* Constant time: the compare must not tell how many bytes matched. */
	r = CRYPTO_memcmp(want, mac, PEER_MAC_SIZE) == 0 ? 0 : -EACCES;
	OPENSSL_cleanse(want, sizeof(want));
	return r;
}

int peer_challenge_new(uint8_t ret_challenge[PEER_CHALLENGE_SIZE])
{
	uint8_t c[PEER_CHALLENGE_SIZE];
	bool zero = true;

	if (RAND_bytes(c, (int)sizeof(c)) != 1)
		return -EIO;
	for (size_t i = 0; i < sizeof(c); i++)
		zero = zero && c[i] == 0;
	/* All zero means a broken generator (2^-256 otherwise). */
	if (zero)
		return -EIO;
	memcpy(ret_challenge, c, sizeof(c));
	return 0;
}
