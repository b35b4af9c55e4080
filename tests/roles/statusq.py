#!/usr/bin/python3
"""statusq.py: read one `repctl status --json` reply on stdin and print the
fields the roles tests look at as one tab-separated line:

  node role disk connection peer.role peer.disk out_of_sync_bytes
  io.nbd_connections resync.active connection_reason

null prints "-", an absent key "<missing>"; tabs and newlines inside a
value become spaces.  Exit 1 if stdin is not a JSON object.
"""
import json
import sys

MISSING = object()


def get(doc, path):
    cur = doc
    for k in path.split("."):
        if cur is None:
            return None
        if not isinstance(cur, dict) or k not in cur:
            return MISSING
        cur = cur[k]
    return cur


def text(v):
    if v is MISSING:
        return "<missing>"
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v).replace("\t", " ").replace("\n", " ") or "''"


def main():
    try:
        doc = json.load(sys.stdin)
    except ValueError as e:
        sys.exit("statusq: not JSON: %s" % e)
    if not isinstance(doc, dict):
        sys.exit("statusq: not an object")
    keys = ["node", "role", "disk", "connection", "peer.role", "peer.disk",
            "out_of_sync_bytes", "io.nbd_connections", "resync.active",
            "connection_reason"]
    print("\t".join(text(get(doc, k)) for k in keys))


if __name__ == "__main__":
    main()
