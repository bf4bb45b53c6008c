"""The Python side of benches/taxii.sh: OASIS taxii2-client fetches every page of the
collection (page size 1000, match[type]=indicator, following `next`) and a few regexes extract
the values edlforge converts (single comparisons joined by OR; patterns with AND skipped).
Prints the number of distinct values. Usage: python client.py API_ROOT COLLECTION_ID USER PASS
"""
import re
import sys

from taxii2client.v21 import Collection, as_pages

VALUE = re.compile(r"(?:ipv4-addr|ipv6-addr|domain-name|url):value\s*=\s*'((?:[^'\\]|\\.)*)'|file:hashes\.'?(?:MD5|SHA-1|SHA-256)'?\s*=\s*'([0-9A-Fa-f]+)'")

root, cid, user, password = sys.argv[1:5]
coll = Collection("%scollections/%s/" % (root, cid), user=user, password=password)
values = set()
pages = 0
for envelope in as_pages(coll.get_objects, per_request=1000, type="indicator"):
    pages += 1
    for o in envelope.get("objects", []):
        p = o.get("pattern", "")
        if o.get("pattern_type") != "stix" or re.search(r"\b(AND|FOLLOWEDBY|NOT|WITHIN|REPEATS|START|MATCHES|LIKE)\b", p):
            continue
        for a, b in VALUE.findall(p):
            values.add((a or b).lower())
print("pages %d values %d" % (pages, len(values)))
