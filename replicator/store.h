/*
 * The local backing store: a regular file or a block device, opened twice:
 * once with O_DIRECT for aligned I/O (the default data path) and once
 * buffered for requests that are not aligned to the direct-I/O granule.
 * Both descriptors refer to the same inode, so the kernel keeps the page
 * cache coherent with direct I/O; overlapping writes are ordered above us.
 */
#ifndef REPD_STORE_H
#define REPD_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "nbd_codec.h"

struct store {
	int fd;				/* buffered descriptor, always open */
	int fd_direct;			/* O_DIRECT descriptor or -1 */
	uint64_t size;			/* bytes of the backing file/device */
	uint32_t align;			/* direct I/O alignment (bytes) */
	bool is_blockdev;
	bool direct;			/* O_DIRECT in use */
};

/*
 * Open path for reading and writing. direct asks for O_DIRECT; if the
 * filesystem refuses it, *ret_fell_back is set and buffered I/O is used.
 * 0 or -errno (the store is then closed).
 */
int store_open(struct store *s, const char *path, bool direct,
	       bool *ret_fell_back);
void store_close(struct store *s);

/* The descriptor to use for [off, off+len): direct when aligned. */
int store_fd_for(const struct store *s, uint64_t off, uint64_t len);

/* True if [off, off+len) and the buffer address suit the direct fd. */
bool store_is_aligned(const struct store *s, uint64_t off, uint64_t len);

/*
 * Allocation status of [off, off+len) for base:allocation, from
 * SEEK_DATA/SEEK_HOLE (block devices report one data extent). Fills at
 * most max extents; the last may end before off+len when max is reached.
 * Returns the number of extents (>= 1) or -errno.
 */
int store_block_status(const struct store *s, uint64_t off, uint32_t len,
		       struct nbd_extent *ext, uint32_t max);

#endif /* REPD_STORE_H */
