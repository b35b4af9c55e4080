/*
 * Replay main for the libFuzzer targets, after systemd's src/fuzz/fuzz-main.c:
 * calls LLVMFuzzerTestOneInput() once for every file named on the command
 * line, and for every regular file of a named directory (sorted, so runs
 * are reproducible). Lets `meson test --suite fuzz` run the seed corpus on
 * compilers without libFuzzer. Exit 0 if every input ran, 1 if an input
 * could not be read; a bug in the target aborts like under libFuzzer.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned n_inputs;

/* Read the whole file into a buffer of exactly its size, so that ASan
 * sees any read past the end of the input. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	struct stat st;
	size_t size;
	int r = -1;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) < 0 || st.st_size < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		goto out;
	}
	size = (size_t)st.st_size;
	buf = malloc(size ? size : 1);
	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", path);
		goto out;
	}
	if (size && fread(buf, 1, size, f) != size) {
		fprintf(stderr, "%s: short read\n", path);
		goto out;
	}
	printf("%s (%zu bytes)\n", path, size);
	fflush(stdout);		/* name the input before it can crash */
	LLVMFuzzerTestOneInput(buf, size);
	n_inputs++;
	r = 0;
out:
	free(buf);
	fclose(f);
	return r;
}

static int skip_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static int run_dir(const char *dir)
{
	struct dirent **ents;
	int n, r = 0;

	n = scandir(dir, &ents, skip_dot, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		size_t len = strlen(dir) + strlen(ents[i]->d_name) + 2;
		char *path = malloc(len);
		struct stat st;

		if (!path) {
			r = -1;
		} else {
			snprintf(path, len, "%s/%s", dir, ents[i]->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
			    run_file(path) < 0)
				r = -1;
		}
		free(path);
		free(ents[i]);
	}
	free(ents);
	return r;
}

int main(int argc, char **argv)
{
	int r = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			r = -1;
		} else if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i]) < 0)
				r = -1;
		} else if (run_file(argv[i]) < 0) {
			r = -1;
		}
	}
	printf("%u inputs replayed\n", n_inputs);
	return r < 0 ? 1 : 0;
}
