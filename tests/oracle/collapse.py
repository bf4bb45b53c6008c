#!/usr/bin/env python3
"""Independent oracle for `edlforge convert --vendor plain --type ip`.

Reads indicator lines (addresses, CIDRs, a-b ranges; IPv4 and IPv6), applies the same documented
rules with Python's `ipaddress` only — entries wider than /8 (IPv4) or /24 (IPv6) refused,
special-purpose space subtracted — and prints the minimal CIDR cover, IPv4 then IPv6, ascending,
single hosts bare. Usage: collapse.py INPUT SPECIAL_V4_V6_FILE
"""
import ipaddress
import sys


def parse(tok):
    if "-" in tok:
        a, b = tok.split("-", 1)
        a, b = ipaddress.ip_address(a), ipaddress.ip_address(b)
        return a.version, int(a), int(b)
    n = ipaddress.ip_network(tok, strict=False)
    return n.version, int(n.network_address), int(n.broadcast_address)


def merge(iv):
    out = []
    for s, e in sorted(iv):
        if out and s <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def subtract(a, b):
    out = []
    for s, e in a:
        for bs, be in b:
            if be < s or bs > e:
                continue
            if bs > s:
                out.append([s, bs - 1])
            s = be + 1
            if s > e:
                break
        if s <= e:
            out.append([s, e])
    return out


def main():
    sets = {4: [], 6: []}
    for line in open(sys.argv[1], encoding="utf-8"):
        tok = line.split()[0] if line.split() else ""
        if not tok or tok[0] in "#;":
            continue
        v, s, e = parse(tok)
        width = 1 << 24 if v == 4 else 1 << 104
        if e - s + 1 > width:
            continue
        sets[v].append((s, e))
    special = {4: [], 6: []}
    for line in open(sys.argv[2], encoding="utf-8"):
        if line.strip():
            v, s, e = parse(line.strip())
            special[v].append((s, e))
    for v, cls in ((4, ipaddress.IPv4Address), (6, ipaddress.IPv6Address)):
        result = subtract(merge(sets[v]), merge(special[v]))
        for s, e in result:
            for net in ipaddress.summarize_address_range(cls(s), cls(e)):
                full = 32 if v == 4 else 128
                print(net.network_address if net.prefixlen == full else net)


main()
