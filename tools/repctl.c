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
		.name = "events",
		.run = repctl_events,
		.summary = "print state changes of a running repd as they happen",
		.usage =
"(--config FILE [--node NAME] | --socket PATH) [--json]\n"
"\n"
"Print the state now, then one line per change (role, disk, connection,\n"
"the peer's role and disk; resync-done, split-brain) until interrupted.\n"
"\n"
"  -c, --config FILE   resource configuration (finds the control socket)\n"
"  -n, --node NAME     node section (default: this host's short name)\n"
"  -s, --socket PATH   the control socket itself\n"
"  -j, --json          one JSON object per line (docs/control.md)\n",
	},
	{
		.name = "promote",
		.run = repctl_admin,
		.summary = "make this node primary",
		.usage =
"(--config FILE [--node NAME] | --socket PATH) [--force]\n"
"\n"
"Secondary to primary. Refused while the peer is primary, and, without\n"
"--force, when local data is not UpToDate (Inconsistent, Outdated).\n"
"--force makes this node's data the reference (first sync of a new pair).\n"
"\n"
"  -c, --config FILE   resource configuration (finds the control socket)\n"
"  -n, --node NAME     node section (default: this host's short name)\n"
"  -s, --socket PATH   the control socket itself\n"
"      --force         promote data that is not UpToDate\n",
	},
	{
		.name = "demote",
		.run = repctl_admin,
		.summary = "make this node secondary",
		.usage =
"(--config FILE [--node NAME] | --socket PATH) [--force]\n"
"\n"
"Primary to secondary. Refused while NBD clients are connected unless\n"
"--force, which answers their requests in flight and then closes them.\n"
"\n"
"  -c, --config FILE   resource configuration (finds the control socket)\n"
"  -n, --node NAME     node section (default: this host's short name)\n"
"  -s, --socket PATH   the control socket itself\n"
"      --force         disconnect NBD clients first\n",
	},
	{
		.name = "connect",
		.run = repctl_admin,
		.summary = "leave StandAlone and connect to the peer",
		.usage =
"(--config FILE [--node NAME] | --socket PATH) [--discard-my-data]\n"
"\n"
"Dial or accept the peer again after `disconnect`, a split brain or a\n"
"refusal. --discard-my-data (secondary only) resolves a split brain by\n"
"throwing away this node's changes: it becomes the sync target.\n"
"\n"
"  -c, --config FILE   resource configuration (finds the control socket)\n"
"  -n, --node NAME     node section (default: this host's short name)\n"
"  -s, --socket PATH   the control socket itself\n"
"      --discard-my-data  this node's changes lose the split brain\n",
	},
	{
		.name = "disconnect",
		.run = repctl_admin,
		.summary = "close the link to the peer and stay StandAlone",
		.usage =
"(--config FILE [--node NAME] | --socket PATH)\n"
"\n"
"A primary keeps serving and tracks its writes in the bitmap.\n"
"\n"
"  -c, --config FILE   resource configuration (finds the control socket)\n"
"  -n, --node NAME     node section (default: this host's short name)\n"
"  -s, --socket PATH   the control socket itself\n",
	},
	{
		.name = "invalidate",
		.run = repctl_admin,
		.summary = "discard this secondary's data; take a full resync",
		.usage =
"(--config FILE [--node NAME] | --socket PATH)\n"
"\n"
"Mark every block out of sync; the node is Inconsistent until a full\n"
"resync from the peer finishes. Secondary only.\n"
"\n"
"  -c, --config FILE   resource configuration (finds the control socket)\n"
"  -n, --node NAME     node section (default: this host's short name)\n"
"  -s, --socket PATH   the control socket itself\n",
	},
	{
		.name = "new-current-uuid",
		.run = repctl_admin,
		.summary = "skip the initial sync of two blank devices",
		.usage =
"--clear-bitmap (--config FILE [--node NAME] | --socket PATH)\n"
"\n"
"On two freshly created nodes (create-md), connected, both secondary and\n"
"Inconsistent: start generation 1 of the resource with nothing out of\n"
"sync; both become UpToDate at once. Only for devices known identical\n"
"(blank); otherwise use `repctl promote --force` for a full sync.\n"
"\n"
"      --clear-bitmap  required: nothing is out of sync\n"
"  -c, --config FILE   resource configuration (finds the control socket)\n"
"  -n, --node NAME     node section (default: this host's short name)\n"
"  -s, --socket PATH   the control socket itself\n",
	},
	{
		.name = "outdate",
		.run = repctl_admin,
		.summary = "mark this disconnected secondary's data Outdated",
		.usage =
"(--config FILE [--node NAME] | --socket PATH)\n"
"\n"
"An Outdated node is refused promotion without --force.\n"
"\n"
"  -c, --config FILE   resource configuration (finds the control socket)\n"
"  -n, --node NAME     node section (default: this host's short name)\n"
"  -s, --socket PATH   the control socket itself\n",
	},
	{
		.name = "resync",
		.run = repctl_admin,
		.summary = "reconnect and resync whatever differs",
		.usage =
"(--config FILE [--node NAME] | --socket PATH) [--wait]\n"
"\n"
"Drop the link and reconnect at once: the nodes compare generations and\n"
"exchange bitmaps, and the source sends every block set in either.\n"
"\n"
"  -c, --config FILE   resource configuration (finds the control socket)\n"
"  -n, --node NAME     node section (default: this host's short name)\n"
"  -s, --socket PATH   the control socket itself\n"
"      --wait          then wait as wait-sync does\n",
	},
	{
		.name = "verify",
		.run = repctl_admin,
		.summary = "compare every block with the peer's, online",
		.usage =
"(--config FILE [--node NAME] | --socket PATH) [--start OFFSET]\n"
"          [--stop OFFSET] [--wait]\n"
"\n"
"Hash every block of [start, stop) on both nodes while clients keep\n"
"working; blocks that differ are logged, counted in status and marked\n"
"out of sync, and `repctl resync` repairs them. Run it on the primary.\n"
"\n"
"  -c, --config FILE   resource configuration (finds the control socket)\n"
"  -n, --node NAME     node section (default: this host's short name)\n"
"  -s, --socket PATH   the control socket itself\n"
"      --start OFFSET  first byte (default 0; K, M, G, T suffixes)\n"
"      --stop OFFSET   end (default: the device size)\n"
"      --wait          wait for the end; exit 1 if blocks differ\n",
	},
	{
		.name = "wait-sync",
		.run = repctl_wait_sync,
		.summary = "wait until both nodes are UpToDate and connected",
		.usage =
"(--config FILE [--node NAME] | --socket PATH) [--timeout SECONDS]\n"
"\n"
"Show resync progress (a bar on a terminal, a line every 5 s otherwise)\n"
"and exit 0 once in sync; 1 if the link is StandAlone or the timeout\n"
"passes.\n"
"\n"
"  -c, --config FILE   resource configuration (finds the control socket)\n"
"  -n, --node NAME     node section (default: this host's short name)\n"
"  -s, --socket PATH   the control socket itself\n"
"  -t, --timeout SECONDS  give up after this long (default: never)\n",
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
