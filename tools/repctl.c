/*
 * repctl: command-line tool for repd resources. main() only dispatches:
 * argv[1] names a subcommand from the table below, which parses the rest.
 * Offline commands (create-md, dump-md) act on the metadata directly; the
 * commands that talk to a running repd over its control socket are added
 * to the same table.
 */
#include <stdio.h>
#include <string.h>

#include "repctl.h"

#ifndef REPD_VERSION
#define REPD_VERSION "unknown"
#endif

static const struct repctl_cmd commands[] = {
	{
		.name = "status",
		.run = repctl_status,
		.summary = "show the state of a running repd",
		.usage =
"(--config FILE [--node NAME] | --socket PATH) [--json] [--verbose]\n"
"\n"
"Ask the daemon for its state: role, disk and connection state, the\n"
"peer's, data out of sync, resync progress (docs/control.md).\n"
"\n"
"  -c, --config FILE   resource configuration (finds the control socket)\n"
"  -n, --node NAME     node section (default: this host's short name)\n"
"  -s, --socket PATH   the control socket itself\n"
"  -j, --json          the daemon's reply as JSON (stable keys)\n"
"  -v, --verbose       also I/O counters, generations, metadata writes\n",
	},
	{
		.name = "create-md",
		.run = repctl_create_md,
		.summary = "initialise the replication metadata of a node",
		.usage =
"--config FILE [--node NAME] [--force] [--granularity BYTES]\n"
"          [--al-extent-size BYTES] [--al-slots N] [--size BYTES]\n"
"\n"
"Write fresh metadata (superblock, empty activity log, clean bitmap) for\n"
"the node, where its `meta` key says (internal: at the end of `disk`, which\n"
"shrinks the exported size; or a file/device of its own). Refuses if\n"
"metadata already exists or the target holds a filesystem or a partition\n"
"table, unless --force.\n"
"\n"
"  -c, --config FILE          resource configuration\n"
"  -n, --node NAME            node section (default: this host's short name)\n"
"  -f, --force                overwrite existing metadata or a filesystem\n"
"  -g, --granularity BYTES    bitmap bytes per bit, power of two 4K..1M\n"
"                             (default 4K)\n"
"  -e, --al-extent-size BYTES activity-log extent, power of two 1M..1G\n"
"                             (default 4M)\n"
"  -s, --al-slots N           activity-log slots, 67..65534 (default 1237)\n"
"  -S, --size BYTES           external metadata only: the data size\n"
"                             (default: the size of `disk`)\n"
"Sizes take a K, M, G or T suffix (powers of 1024).\n",
	},
	{
		.name = "dump-md",
		.run = repctl_dump_md,
		.summary = "print a node's metadata: superblock, bitmap, activity log",
		.usage =
"--config FILE [--node NAME] [--json]\n"
"\n"
"Read the node's metadata (offline; safe while repd runs, but then the\n"
"bitmap may lag) and print every superblock field, the layout, the dirty\n"
"bitmap summary and ranges, and the activity-log ring and hot extents.\n"
"\n"
"  -c, --config FILE   resource configuration\n"
"  -n, --node NAME     node section (default: this host's short name)\n"
"  -j, --json          one JSON object (keys in docs/repctl.md)\n",
	},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
"Usage: repctl COMMAND [OPTIONS]\n"
"       repctl COMMAND --help\n"
"\n"
"Commands:\n");
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-12s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(f,
"\n"
"Exit status: 0 success, 1 failure, 2 bad usage.\n");
}

int main(int argc, char **argv)
{
	static char prog[64];
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return REPCTL_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return REPCTL_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("repctl %s\n", REPD_VERSION);
		return REPCTL_OK;
	}
	for (i = 0; i < N_COMMANDS; i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		/* getopt names argv[0] in its messages */
		snprintf(prog, sizeof(prog), "repctl %s", commands[i].name);
		argv[1] = prog;
		return commands[i].run(&commands[i], argc - 1, argv + 1);
	}
	fprintf(stderr, "repctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return REPCTL_USAGE;
}
