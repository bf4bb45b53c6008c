#!/usr/bin/env python3
"""Generate a deterministic, realistic-looking domain or URL indicator list.

Usage: gen-names.py SEED N KIND OUT

KIND is "domain" or "url". Writes N lines of UTF-8 to OUT ("-" for stdout).
The output depends only on SEED, N and KIND (byte-identical on re-runs).

What the lines look like (rates are per line, approximate):

  both kinds
    ~0.3%  comment lines ("# ...");  ~0.1% blank lines
    ~20%   duplicates (case-insensitively) of an earlier line: deliberate
           repeats from a window of the last 65,536 fresh lines (~3/4 exact,
           ~1/4 case variants that `sort -u` keeps but a case-insensitive
           deduplicator removes), plus, for domains, chance collisions of
           word-based names.  Measured at 1M lines: domain ~17% exact /
           ~22% case-insensitive, url ~16% / ~20%.
    ~3%    defanged: "evil[.]com", "hxxp://", "hxxps://"
    mixed case: ~75% of domains (~85% of URL hosts) lowercase, the rest
                Title.Case, UPPER or rAnDoM; URL paths are mixed case
    IDN labels in Unicode (bücher, пример, 例え, ...) and a few in
                punycode (xn--...), incl. the .рф TLD
    TLDs: com, net, org, co.uk, de, ru, xyz, io, info, top, ... plus hosts
                under PSL private suffixes (evil123.github.io, *.blogspot.com,
                *.herokuapp.com, ...)
  domain
    ~5%    wildcards ("*.example.com");  ~1% trailing dot ("example.com.")
  url
    https ~60%, http ~25%, no scheme ~15% (before defanging); ports ~5%;
    paths with mixed case, file names, %-escapes; queries ~30%;
    fragments ~5%; userinfo ~1.5%; IPv4 hosts ~9%, IPv6 hosts ~1%

Python 3 standard library only; random numbers come only from
random.Random(SEED), and tokens are sliced from pools built from it.
Throughput is several hundred thousand lines per second.
"""

import random
import sys

CHUNK = 1 << 15
POOL = 1 << 16  # duplicate window (fresh lines remembered)

# Line-kind thresholds (cumulative).
P_COMMENT = 0.003
P_BLANK = P_COMMENT + 0.001
# Deliberate duplicates. Fresh word-based domains also collide by chance
# (~5% of lines at 1M), so the domain kind repeats less on purpose.
P_DUP_RATE = {"domain": 0.15, "url": 0.20}
P_DUP_EXACT = 0.75  # share of duplicates that are byte-exact

P_DEFANG = 0.03
P_WILDCARD = 0.05  # domain kind only
P_TRAILING_DOT = 0.01  # domain kind only

WORDS = """
secure login update account verify bank pay paypal wallet crypto coin mail
cloud drive office support service online portal auth signin web app shop
store best free news media tech soft micro data net link click track ads
promo deal bonus gift prize win lucky game play stream video music photo
file share doc docs invoice billing order delivery post parcel ship track
alert notice security safe guard shield fix help desk team group global
world city star blue red green black white gold silver smart fast easy
quick direct express prime top pro max ultra mega super hyper meta cyber
host server node edge cdn static assets img images dl download upload
update patch driver setup install agent client remote vpn proxy gate
bridge tunnel relay mirror backup sync ping check scan test demo dev
stage beta alpha home house car auto travel hotel flight ticket event
health care med pharma pill shop sale outlet fashion style beauty sport
fit food pizza coffee tea wine beer bet casino poker loto forex invest
trade market stock fund loan credit card money cash tax gov info center
""".split()

SUBWORDS = """
www www www mail login secure api cdn m portal account update admin vpn
owa webmail static img dl download app auth sso id my shop blog docs
support help remote ftp smtp ns1 ns2 mx dev test staging beta
""".split()

# No ß, final sigma, dotless i etc.: upper()/lower() must round-trip.
CYRILLIC = "пример испытание почта москва банк новости".split()
IDN = """
bücher münchen café ñandú español żółw københavn grün über
例え 中文 测试 日本語 テスト 한국어 δοκιμή ελληνικά
""".split() + CYRILLIC
PUNY = "xn--bcher-kva xn--e1afmkfd xn--mnchen-3ya xn--r8jz45g xn--fiq228c xn--80akhbyknj4f".split()

# (tld, weight). Entries starting with "@" are private PSL suffixes (hosting
# platforms) where the label before them is a user/site name.
TLD_WEIGHTS = [
    ("com", 30), ("net", 8), ("org", 6), ("co.uk", 4), ("de", 5), ("ru", 6),
    ("xyz", 5), ("io", 4), ("info", 4), ("top", 3), ("online", 2),
    ("site", 2), ("cn", 2), ("br", 1), ("com.br", 1), ("fr", 1), ("jp", 1),
    ("co.jp", 1), ("nl", 1), ("pl", 1), ("club", 1), ("shop", 1), ("app", 1),
    ("рф", 1), ("xn--p1ai", 1),
    ("@github.io", 3), ("@blogspot.com", 1), ("@herokuapp.com", 1),
    ("@azurewebsites.net", 1), ("@web.app", 1), ("@pages.dev", 1),
    ("@duckdns.org", 1), ("@netlify.app", 1),
]
TLDS = [t for t, w in TLD_WEIGHTS for _ in range(w)]

PATHWORDS = """
Login login wp-admin wp-content wp-includes uploads images img js CSS css
Account account Verify verify secure Secure update Update WebScr webscr
cgi-bin admin Admin Download download files Files invoice Invoice
Office365 signin SignIn auth oauth2 v1 v2 api API 2023 2024 2025 01 12
index Home home portal Portal docs Documents payload bin tmp Temp static
""".split()
FILES = """
index.php login.php login.html Login.aspx Default.aspx verify.aspx
Invoice_2024.PDF invoice.pdf setup.exe Setup.EXE update.js payload.bin
doc.zip Document.docm x.sh install.ps1 main.jar favicon.ico logo.PNG
""".split()
QKEYS = "id token ref u session redirect email lang v q utm_source sid next".split()
QVALS_FIXED = [
    "https%3A%2F%2Fexample.com%2Flogin", "user%40example.com", "en-US", "true",
    "1", "0", "DE", "login",
]
FRAGS = ["top", "login", "/dashboard", "section-2", "!/home", "Main"]
PORTS = [":8080", ":8443", ":8000", ":81", ":3000", ":443", ":80", ":8888"]
USERINFO = ["admin@", "user:pass@", "john.doe@", "ftp:ftp@", "root:toor@"]
COMMENTS = [
    "# threat feed export", "# TLP:AMBER", "# source: feed-{n}",
    "# campaign {n}", "# ---- section {n} ----", "# updated 2024-05-{n2}",
    "# phishing / malware indicators", "# do not edit by hand",
]

LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
MIXED_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
TOKPOOL_LEN = 1 << 18


def main(argv):
    if len(argv) != 5 or argv[3] not in ("domain", "url"):
        sys.stderr.write("usage: gen-names.py SEED N domain|url OUT\n")
        return 2
    try:
        seed = int(argv[1])
        n = int(argv[2])
    except ValueError:
        sys.stderr.write("gen-names.py: SEED and N must be integers\n")
        return 2
    if n < 0:
        sys.stderr.write("gen-names.py: N must be >= 0\n")
        return 2
    kind = argv[3]
    out_path = argv[4]

    rng = random.Random(seed)
    rnd = rng.random
    bits = rng.getrandbits

    # Token pools: random characters, sliced at random offsets.
    lpool = "".join(LOWER_ALNUM[int(rnd() * 36)] for _ in range(TOKPOOL_LEN))
    mpool = "".join(MIXED_ALNUM[int(rnd() * 62)] for _ in range(TOKPOOL_LEN))
    # A token must start with a letter (looks more like real names).
    lpool_starts = [i for i in range(TOKPOOL_LEN - 32) if lpool[i].isalpha()]

    def pick(seq):
        return seq[int(rnd() * len(seq))]

    def ltoken(lo, hi):
        k = lo + int(rnd() * (hi - lo + 1))
        i = lpool_starts[int(rnd() * len(lpool_starts))]
        return lpool[i:i + k]

    def mtoken(lo, hi):
        k = lo + int(rnd() * (hi - lo + 1))
        i = int(rnd() * (TOKPOOL_LEN - 32))
        return mpool[i:i + k]

    nw = len(WORDS)
    nt = len(TLDS)
    ns = len(SUBWORDS)

    def domain():
        tld = TLDS[int(rnd() * nt)]
        y = rnd()
        if tld[0] == "@":
            tld = tld[1:]
            # user/site names on hosting platforms
            if y < 0.6:
                base = WORDS[int(rnd() * nw)] + str(int(rnd() * 1000))
            else:
                base = ltoken(5, 14)
        elif tld == "рф" or tld == "xn--p1ai":
            base = pick(CYRILLIC) if tld == "рф" else pick(PUNY)
        elif y < 0.30:
            base = WORDS[int(rnd() * nw)] + WORDS[int(rnd() * nw)]
        elif y < 0.45:
            base = WORDS[int(rnd() * nw)] + "-" + WORDS[int(rnd() * nw)]
        elif y < 0.60:
            base = WORDS[int(rnd() * nw)] + str(int(rnd() * 1000))
        elif y < 0.92:
            base = ltoken(6, 18)  # DGA-like
        elif y < 0.97:
            base = IDN[int(rnd() * len(IDN))]
        else:
            base = PUNY[int(rnd() * len(PUNY))]
        name = base + "." + tld
        d = rnd()
        if d < 0.5:
            return name
        depth = 1 if d < 0.8 else (2 if d < 0.95 else 3)
        for _ in range(depth):
            s = rnd()
            if s < 0.7:
                label = SUBWORDS[int(rnd() * ns)]
            elif s < 0.96:
                label = ltoken(3, 12)
            else:
                label = IDN[int(rnd() * len(IDN))]
            name = label + "." + name
        return name

    def recase(s, p_lower):
        x = rnd()
        if x < p_lower:
            return s
        x = (x - p_lower) / (1.0 - p_lower)
        if x < 0.5:
            return ".".join(part[:1].upper() + part[1:] for part in s.split("."))
        if x < 0.8:
            return s.upper()
        # rAnDoM case: flip letters according to random bits
        b = bits(len(s))
        return "".join(
            c.upper() if (b >> i) & 1 else c for i, c in enumerate(s)
        )

    def ipv4():
        v = bits(32)
        return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"

    def ipv6():
        g = [f"{bits(16):x}" for _ in range(4)]
        return f"[2a0{int(rnd() * 10)}:{g[0]}:{g[1]}::{g[2]}:{g[3]}]"

    def defang_dots(s):
        if rnd() < 0.5:
            return s.replace(".", "[.]")
        i = s.rfind(".")
        return s[:i] + "[.]" + s[i + 1:] if i >= 0 else s

    def fresh_domain():
        s = recase(domain(), 0.75)
        if rnd() < P_WILDCARD:
            s = "*." + s
        x = rnd()
        if x < P_DEFANG:
            s = defang_dots(s)
        elif x < P_DEFANG + P_TRAILING_DOT:
            s = s + "."
        return s

    def path():
        x = rnd()
        if x < 0.10:
            return ""
        if x < 0.22:
            return "/"
        k = 1 + int(rnd() * 4)
        segs = []
        for _ in range(k):
            y = rnd()
            if y < 0.65:
                segs.append(PATHWORDS[int(rnd() * len(PATHWORDS))])
            elif y < 0.95:
                segs.append(mtoken(4, 24))
            else:
                segs.append(mtoken(2, 6) + "%20" + mtoken(2, 6))
        y = rnd()
        if y < 0.45:
            segs.append(FILES[int(rnd() * len(FILES))])
        elif y < 0.6:
            segs.append("")  # trailing slash
        return "/" + "/".join(segs)

    def query():
        k = 1 + int(rnd() * 3)
        parts = []
        for _ in range(k):
            key = QKEYS[int(rnd() * len(QKEYS))]
            y = rnd()
            if y < 0.4:
                val = str(bits(20))
            elif y < 0.8:
                val = mtoken(8, 32)
            else:
                val = pick(QVALS_FIXED)
            parts.append(key + "=" + val)
        return "?" + "&".join(parts)

    def fresh_url():
        x = rnd()
        scheme = "https://" if x < 0.60 else ("http://" if x < 0.85 else "")
        h = rnd()
        if h < 0.90:
            host = recase(domain(), 0.85)
            if rnd() < 0.003:
                host += "."
        elif h < 0.99:
            host = ipv4()
        else:
            host = ipv6()
            if not scheme:
                scheme = "http://"
        if rnd() < P_DEFANG:
            if scheme:
                scheme = "hxxps://" if scheme == "https://" else "hxxp://"
                if rnd() < 0.5 and host[0] != "[":
                    host = defang_dots(host)
            elif host[0] != "[":
                host = defang_dots(host)
        userinfo = USERINFO[int(rnd() * len(USERINFO))] if rnd() < 0.015 else ""
        if userinfo and not scheme:
            scheme = "http://"
        port = PORTS[int(rnd() * len(PORTS))] if rnd() < 0.05 else ""
        p = path()
        q = query() if rnd() < 0.30 else ""
        f = ("#" + (pick(FRAGS) if rnd() < 0.6 else mtoken(4, 10))) if rnd() < 0.05 else ""
        if (q or f) and not p:
            p = "/"
        return scheme + userinfo + host + port + p + q + f

    def variant_domain(s):
        low = s.lower()
        return low if low != s else recase(s, 0.0)

    def variant_url(s):
        # change case of the scheme/host part only; paths are case-sensitive
        i = s.find("://")
        start = i + 3 if i >= 0 else 0
        j = s.find("/", start)
        if j < 0:
            j = len(s)
        head, tail = s[:j], s[j:]
        return (head.lower() if not head.islower() else head.upper()) + tail

    p_dup = P_BLANK + P_DUP_RATE[kind]
    fresh = fresh_domain if kind == "domain" else fresh_url
    variant = variant_domain if kind == "domain" else variant_url

    pool = [None] * POOL
    filled = 0
    slot = 0

    if out_path == "-":
        sys.stdout.reconfigure(encoding="utf-8", newline="\n")
        out = sys.stdout
    else:
        out = open(out_path, "w", encoding="utf-8", newline="\n")
    try:
        left = n
        while left > 0:
            m = CHUNK if left > CHUNK else left
            left -= m
            lines = []
            add = lines.append
            for _ in range(m):
                x = rnd()
                if x >= p_dup or filled < 64:
                    s = fresh()
                    pool[slot] = s
                    slot = (slot + 1) & (POOL - 1)
                    if filled < POOL:
                        filled += 1
                    add(s)
                elif x >= P_BLANK:
                    s = pool[int(rnd() * filled)]
                    if rnd() >= P_DUP_EXACT:
                        s = variant(s)
                    add(s)
                elif x < P_COMMENT:
                    c = COMMENTS[int(rnd() * len(COMMENTS))]
                    add(c.format(n=int(rnd() * 100), n2=f"{1 + int(rnd() * 28):02d}"))
                else:
                    add("")
            lines.append("")
            out.write("\n".join(lines))
    finally:
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
