/*
 * Listen and connect addresses as written in the config:
 * "HOST:PORT", "[IPV6]:PORT" or "unix:PATH".
 */
#ifndef REPD_NETADDR_H
#define REPD_NETADDR_H

#include <stdbool.h>
#include <sys/socket.h>

struct netaddr {
	struct sockaddr_storage ss;
	socklen_t len;
	bool is_unix;
};

/* Resolve s (numeric or a host name) into ret. 0 or -EINVAL/-ENOENT. */
int netaddr_parse(const char *s, struct netaddr *ret);

/*
 * Create a listening socket (CLOEXEC, SO_REUSEADDR for TCP; a stale UNIX
 * socket file nobody listens on is replaced). Returns the fd or -errno
 * (-EADDRINUSE when another process listens there).
 */
int netaddr_listen(const struct netaddr *a, int backlog);

/* Human form for logs: "127.0.0.1:10809", "[::1]:10809", "unix:/p". */
void netaddr_format(const struct netaddr *a, char *buf, size_t len);

#endif /* REPD_NETADDR_H */
