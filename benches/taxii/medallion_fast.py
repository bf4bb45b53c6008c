"""medallion 3.0.0 with the O(n^2) spots of its MemoryBackend made O(n log n), for the
benchmark only (benches/taxii.sh): unpatched, the first page of a 100k-object collection
compares every object with every other for its spec version and scans the manifest once per
object (hours), every request deep-copies the whole collection, and every follow-up page scans
the manifest for its headers. The answers (objects, order, paging,
headers) are the same; only the work per request changes. The tests use medallion unpatched.

With MEDALLION_TIMING=<file>, the time spent handling each request (routing, backend, JSON
encoding) is appended to that file, one line of seconds per request: the server's share.
Usage: python medallion_fast.py [medallion arguments]
"""
import copy
import os
import time

import flask
from medallion import application_instance

from medallion.backends import memory_backend
from medallion.common import determine_spec_version, find_att
from medallion.filters.basic_filter import BasicFilter
from medallion.scripts import run

_index = {}


def _manifest_index(manifest):
    key = id(manifest), len(manifest)
    idx = _index.get(key)
    if idx is None:
        idx = {(m["id"], find_att(m)): m["date_added"] for m in manifest}
        _index.clear()
        _index[key] = idx
    return idx


def sort_and_paginate(self, data, limit, manifest):
    if not data or not manifest:
        return _orig_sort(self, data, limit, manifest)
    idx = _manifest_index(manifest)
    keyed = [(idx[(o["id"], find_att(o))], o) for o in data if (o["id"], find_att(o)) in idx]
    keyed.sort(key=lambda x: x[0])
    headers = {"X-TAXII-Date-Added-First": keyed[0][0]} if keyed else {}
    new = [o for _, o in keyed]
    next_save = {}
    if limit and limit < len(data):
        next_save = new[limit:]
        new = new[:limit]
        headers["X-TAXII-Date-Added-Last"] = keyed[limit - 1][0]
    elif keyed:
        headers["X-TAXII-Date-Added-Last"] = keyed[-1][0]
    return new, next_save, headers


def find_headers(headers, manifest, obj):
    added = _manifest_index(manifest).get((obj["id"], find_att(obj)))
    if added is None:
        return
    if len(headers) == 0:
        headers["X-TAXII-Date-Added-First"] = added
    else:
        headers["X-TAXII-Date-Added-Last"] = added


def filter_by_spec_version(data, spec_):
    if spec_:
        return _orig_spec(data, spec_)

    def version(o):
        return o["media_type"].split("version=")[1] if "media_type" in o else determine_spec_version(o)

    newest = {}
    for o in data:
        v = version(o)
        if v > newest.get(o["id"], ""):
            newest[o["id"]] = v
    return [o for o in data if version(o) == newest[o["id"]]]


def get_collection(self, api_root, collection_id):
    if api_root not in self.data:
        return None
    for c in self._get(api_root).get("collections", []):
        if collection_id == c["id"]:
            return copy.deepcopy({k: v for k, v in c.items() if k not in ("manifest", "responses", "objects")})


_orig_sort = BasicFilter.sort_and_paginate
BasicFilter.sort_and_paginate = sort_and_paginate
_orig_spec = BasicFilter.filter_by_spec_version
BasicFilter.filter_by_spec_version = staticmethod(filter_by_spec_version)
memory_backend.find_headers = find_headers
memory_backend.MemoryBackend.get_collection = get_collection

_TIMING = os.environ.get("MEDALLION_TIMING")


@application_instance.before_request
def _start_clock():
    flask.g.edlforge_t0 = time.perf_counter()


@application_instance.after_request
def _stop_clock(response):
    if _TIMING:
        with open(_TIMING, "a") as f:
            f.write("%.6f\n" % (time.perf_counter() - flask.g.edlforge_t0))
    return response


if __name__ == "__main__":
    run.main()
