#!/usr/bin/env python3
"""Generate a deterministic mixed IPv4 indicator list for benchmarks.

Usage: gen-ip.py SEED N OUT

Writes N lines to OUT ("-" for stdout). The output depends only on SEED and N
(same SEED and N => byte-identical file):

  ~85%  single addresses        a.b.c.d
  ~10%  CIDRs                   a.b.c.d/P   P uniform in 16..32, canonical
                                            (host bits cleared)
  ~5%   ranges                  a.b.c.d-e.f.g.h   length 1..4096 addresses,
                                            never past 255.255.255.255

Addresses are uniform over the whole 32-bit space, so about 14% of them land in
special-purpose space (0/8, 10/8, 127/8, 224/3, ...), as in real noisy feeds.

Python 3 standard library only. Lines are built in chunks and written with
one join per chunk; 10M lines take a few seconds.
"""

import random
import sys

CHUNK = 1 << 16
P_SINGLE = 0.85
P_CIDR = 0.95  # cumulative: single < 0.85 <= cidr < 0.95 <= range
MAX_RANGE = 4096

# Octet -> decimal string; table lookup is faster than int formatting.
OCT = [str(i) for i in range(256)]


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: gen-ip.py SEED N OUT\n")
        return 2
    try:
        seed = int(argv[1])
        n = int(argv[2])
    except ValueError:
        sys.stderr.write("gen-ip.py: SEED and N must be integers\n")
        return 2
    if n < 0:
        sys.stderr.write("gen-ip.py: N must be >= 0\n")
        return 2
    out_path = argv[3]

    rng = random.Random(seed)
    bits = rng.getrandbits
    rnd = rng.random
    o = OCT

    def ip(v):
        return f"{o[v >> 24]}.{o[(v >> 16) & 255]}.{o[(v >> 8) & 255]}.{o[v & 255]}"

    out = (
        sys.stdout
        if out_path == "-"
        else open(out_path, "w", encoding="ascii", newline="\n")
    )
    try:
        left = n
        while left > 0:
            m = CHUNK if left > CHUNK else left
            left -= m
            lines = []
            add = lines.append
            for _ in range(m):
                x = rnd()
                v = bits(32)
                if x < P_SINGLE:
                    add(f"{o[v >> 24]}.{o[(v >> 16) & 255]}.{o[(v >> 8) & 255]}.{o[v & 255]}")
                elif x < P_CIDR:
                    # prefix uniform in 16..32 (17 values)
                    p = 16 + int((x - P_SINGLE) * (17 / (P_CIDR - P_SINGLE)))
                    if p > 32:
                        p = 32
                    net = v & ((0xFFFFFFFF << (32 - p)) & 0xFFFFFFFF)
                    add(f"{ip(net)}/{p}")
                else:
                    length = 1 + bits(12)  # 1..4096 addresses
                    end = v + length - 1
                    if end > 0xFFFFFFFF:
                        end = 0xFFFFFFFF
                    add(f"{ip(v)}-{ip(end)}")
            lines.append("")  # trailing newline after the chunk's last line
            out.write("\n".join(lines))
    finally:
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
