"""Walks every page of a TAXII 2.1 collection's objects/ (limit 1000, following next) with the
standard library only, so the client costs the same against any server.
Prints: objects pages seconds.  Usage: walk.py OBJECTS_URL [USER PASSWORD] [--dump FILE]
With --dump, writes {"objects": [...], "manifest": [...]} (every version) for a medallion copy.
"""
import base64
import json
import sys
import time
import urllib.parse
import urllib.request

args = sys.argv[1:]
dump = None
if "--dump" in args:
    i = args.index("--dump")
    dump = args[i + 1]
    del args[i:i + 2]
url = args[0]
auth = None
if len(args) >= 3:
    auth = "Basic " + base64.b64encode(("%s:%s" % (args[1], args[2])).encode()).decode()


def get(u):
    req = urllib.request.Request(u, headers={"Accept": "application/taxii+json;version=2.1"})
    if auth:
        req.add_header("Authorization", auth)
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def walk(base, extra):
    out, pages, nxt = [], 0, None
    while True:
        q = dict(extra, limit="1000")
        if nxt:
            q["next"] = nxt
        env = get(base + "?" + urllib.parse.urlencode(q))
        pages += 1
        out.extend(env.get("objects", []))
        if not env.get("more"):
            return out, pages
        nxt = env.get("next")


t = time.monotonic()
objs, pages = walk(url, {"match[version]": "all"} if dump else {})
took = time.monotonic() - t
print(len(objs), pages, "%.3f" % took)
if dump:
    manifest, _ = walk(url.replace("/objects/", "/manifest/"), {"match[version]": "all"})
    with open(dump, "w") as f:
        json.dump({"objects": objs, "manifest": manifest}, f)
