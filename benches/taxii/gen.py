"""Writes a medallion MemoryBackend file with N STIX 2.1 indicators for benches/taxii.sh.

Deterministic (no randomness): indicator i gets a fixed id, fixed timestamps and a value
derived from i. Mix: 70 % IPv4, 12 % domains, 8 % URLs, 5 % SHA-256, 5 % compound patterns
(AND of two observations: not convertible, counted unsupported_pattern by edlforge).
Usage: python3 gen.py N OUT.json
"""
import json
import sys

FIRST = [23, 31, 37, 45, 62, 77, 89, 91, 103, 109, 141, 146, 151, 176, 185, 188, 193, 194, 195, 212, 213, 217]


def value(i):
    h = (i * 2654435761) & 0xFFFFFFFF
    k = i % 100
    ip = "%d.%d.%d.%d" % (FIRST[h % len(FIRST)], (h >> 8) & 255, (h >> 16) & 255, 1 + (i % 254))
    if k < 70:
        return "[ipv4-addr:value = '%s']" % ip
    if k < 82:
        return "[domain-name:value = 'c2-%08x.example-bench.net']" % h
    if k < 90:
        return "[url:value = 'http://dl-%08x.example-bench.org/p/%d.bin']" % (h, i)
    if k < 95:
        return "[file:hashes.'SHA-256' = '%064x']" % ((h * 0x9E3779B97F4A7C15 + i) % (1 << 256))
    return "[ipv4-addr:value = '%s'] AND [domain-name:value = 'x-%d.example-bench.net']" % (ip, i)


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    objects, manifest = [], []
    for i in range(n):
        oid = "indicator--%08x-0000-4000-8000-%012x" % (i, i)
        sec = i // 1000
        stamp = "2026-01-01T%02d:%02d:%02d.%03dZ" % (sec // 3600, sec // 60 % 60, sec % 60, i % 1000)
        objects.append({
            "type": "indicator", "spec_version": "2.1", "id": oid,
            "created": stamp, "modified": stamp, "name": "bench %d" % i,
            "pattern": value(i), "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
            "confidence": 50 + i % 50, "labels": ["bench"],
        })
        manifest.append({
            "id": oid, "date_added": "2026-01-02T%02d:%02d:%02d.%06dZ" % (sec // 3600, sec // 60 % 60, sec % 60, (i % 1000) * 1000),
            "version": stamp, "media_type": "application/stix+json;version=2.1",
        })
    data = {
        "/discovery": {"title": "bench", "default": "/api1/", "api_roots": ["/api1/"]},
        "api1": {
            "information": {"title": "bench", "versions": ["application/taxii+json;version=2.1"], "max_content_length": 104857600},
            "status": [],
            "collections": [{
                "id": "a0b1c2d3-0000-4000-8000-000000000001", "title": "bench", "can_read": True, "can_write": False,
                "media_types": ["application/stix+json;version=2.1"], "objects": objects, "manifest": manifest,
            }],
        },
    }
    with open(out, "w") as f:
        json.dump(data, f)


main()
