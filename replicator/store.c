/*
 * Backing store set-up and the allocation map. Data-path reads and writes
 * are io_uring ops issued by the caller on the descriptors opened here.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define STORE_ALIGN 4096u	/* safe for 512e and 4Kn devices alike */

int store_open(struct store *s, const char *path, bool direct,
	       bool *ret_fell_back)
{
	struct stat st;
	int r;

	s->fd_direct = -1;
	s->align = STORE_ALIGN;
	s->direct = false;
	*ret_fell_back = false;
	s->fd = open(path, O_RDWR | O_CLOEXEC);
	if (s->fd < 0)
		return -errno;
	if (fstat(s->fd, &st) < 0)
		goto fail_errno;
	s->is_blockdev = S_ISBLK(st.st_mode);
	if (s->is_blockdev) {
		if (ioctl(s->fd, BLKGETSIZE64, &s->size) < 0)
			goto fail_errno;
	} else if (S_ISREG(st.st_mode)) {
		s->size = (uint64_t)st.st_size;
	} else {
		r = -ENOTBLK;
		goto fail;
	}
	if (direct) {
		s->fd_direct = open(path, O_RDWR | O_CLOEXEC | O_DIRECT);
		if (s->fd_direct >= 0)
			s->direct = true;
		else if (errno == EINVAL)
			*ret_fell_back = true;	/* e.g. tmpfs */
		else
			goto fail_errno;
	}
	return 0;
fail_errno:
	r = -errno;
fail:
	store_close(s);
	return r;
}

void store_close(struct store *s)
{
	if (s->fd_direct >= 0)
		close(s->fd_direct);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = s->fd_direct = -1;
}

bool store_is_aligned(const struct store *s, uint64_t off, uint64_t len)
{
	return s->direct && ((off | len) & (s->align - 1)) == 0;
}

int store_fd_for(const struct store *s, uint64_t off, uint64_t len)
{
	return store_is_aligned(s, off, len) ? s->fd_direct : s->fd;
}

static int add_extent(struct nbd_extent *ext, uint32_t *n, uint32_t max,
		      uint64_t len, uint32_t flags)
{
	/* merge with the previous extent when the flags match */
	if (*n > 0 && ext[*n - 1].flags == flags) {
		ext[*n - 1].len += (uint32_t)len;
		return 0;
	}
	if (*n == max)
		return -ENOSPC;
	ext[*n].len = (uint32_t)len;
	ext[*n].flags = flags;
	(*n)++;
	return 0;
}

int store_block_status(const struct store *s, uint64_t off, uint32_t len,
		       struct nbd_extent *ext, uint32_t max)
{
	uint64_t pos = off, end = off + len;
	uint32_t n = 0;

	if (s->is_blockdev) {
		ext[0].len = len;
		ext[0].flags = 0;
		return 1;
	}
	while (pos < end) {
		off_t data = lseek(s->fd, (off_t)pos, SEEK_DATA);
		uint64_t hole_end, data_end;
		off_t hole;

		if (data < 0 && errno != ENXIO)
			return -errno;
		/* ENXIO: no data after pos, the rest is a hole */
		hole_end = data < 0 ? end : (uint64_t)data;
		if (hole_end > end)
			hole_end = end;
		if (hole_end > pos) {
			if (add_extent(ext, &n, max, hole_end - pos,
				       NBD_STATE_HOLE | NBD_STATE_ZERO) < 0)
				break;
			pos = hole_end;
			continue;
		}
		hole = lseek(s->fd, (off_t)pos, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		data_end = (uint64_t)hole < end ? (uint64_t)hole : end;
		if (data_end <= pos)
			data_end = end;	/* cannot happen; stay safe */
		if (add_extent(ext, &n, max, data_end - pos, 0) < 0)
			break;
		pos = data_end;
	}
	return (int)n;
}
