"""Timing probes for benches/replicas.sh: polls `edlforge serve` replicas on 127.0.0.1 over plain
HTTP (standard library only) and prints one `key=value` line per measurement.

  probe.py settle LIST LIMIT_S PORT...
      waits until exactly one replica says "role": "leader" in /status.json (the others
      "follower") and all serve /lists/LIST with 200 and one ETag; prints leader=PORT etag=ETAG
  probe.py takeover PID LISTS LIMIT_S POLL_MS PORT...
      kill -9 PID (the leader), then polls the other replicas (PORT...) every POLL_MS:
      takeover_s = until one says "leader"; cycle_s = until that one's /metrics shows
      `edlforge_cycle_success 1` (its first completed cycle: a follower runs none, so the gauge
      is absent until then); bad = answers of /lists/<each of LISTS, comma-separated> meanwhile
      that were not 200 with the ETag that replica served before the kill
  probe.py edit FILE CONTENT_FILE LIST LIMIT_S POLL_MS PORT...
      replaces FILE by a copy of CONTENT_FILE (write + rename, as an editor or a ConfigMap does),
      then polls HEAD /lists/LIST on every PORT: first_s = the first replica serving a new ETag,
      all_s = every replica serving one same new ETag, per=<s per port>; t0 = the wall time of
      the rename (Unix seconds) for logs
  probe.py logs T0 LIST LOG...
      seconds after T0 of the first `List published.`, `List published to the database.` and
      `List followed from the leader.` line for LIST in each log (tracing's UTC timestamps)

  probe.py gzip FILE
      seconds to gzip FILE at level 6 with zlib (best of 3): what a follower spends recompressing
      a followed list before serving it (`Published::new`, flate2 level 6)

Every wait is bounded by LIMIT_S: on timeout the line says timeout=1 and the script goes on.
"""
import datetime
import http.client
import os
import re
import shutil
import signal
import sys
import time


def request(port, path, method="GET", headers=None, timeout=2.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return r.status, r.getheader("ETag"), body
    except OSError:
        return 0, None, b""
    finally:
        c.close()


ROLE = re.compile(rb'"role"\s*:\s*"([a-z]+)"')


def role(port):
    s, _, body = request(port, "/status.json")
    m = ROLE.search(body) if s == 200 else None
    return m.group(1).decode() if m else None


def etag(port, lst):
    s, e, _ = request(port, "/lists/" + lst, "HEAD")
    return e if s == 200 else None


def ticks(poll_s, limit_s):
    """Yields the elapsed seconds at each poll, every poll_s, until limit_s."""
    t0 = time.monotonic()
    k = 0
    while True:
        now = time.monotonic() - t0
        if now > limit_s:
            return
        yield now
        k += 1
        pause = t0 + k * poll_s - time.monotonic()
        if pause > 0:
            time.sleep(pause)


def settle(lst, limit_s, ports):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        roles = [role(p) for p in ports]
        tags = [etag(p, lst) for p in ports]
        if (roles.count("leader") == 1 and roles.count("follower") == len(ports) - 1
                and tags[0] is not None and all(t == tags[0] for t in tags)):
            print("leader=%d etag=%s settle_s=%.3f" % (ports[roles.index("leader")], tags[0],
                                                       time.monotonic() - t0))
            return 0
        time.sleep(0.1)
    print("timeout=1 roles=%s etags=%s" % (roles, tags))
    return 1


def takeover(pid, lists, limit_s, poll_s, ports):
    lists = lists.split(",")
    before = {(p, l): etag(p, l) for p in ports for l in lists}
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    leader, took, polls, bad = None, None, 0, 0
    for _ in ticks(poll_s, limit_s):
        polls += 1
        for p in ports:
            bad += sum(etag(p, l) != before[(p, l)] for l in lists)
            if leader is None and role(p) == "leader":
                leader, took = p, time.monotonic() - t0
        if leader is not None:
            break
    if leader is None:
        print("timeout=1 polls=%d bad=%d" % (polls, bad))
        return 1
    cycle = None
    for _ in ticks(poll_s, limit_s):
        s, _, body = request(leader, "/metrics")
        if s == 200 and re.search(rb"^edlforge_cycle_success 1$", body, re.M):
            cycle = time.monotonic() - t0
            break
        bad += sum(etag(leader, l) != before[(leader, l)] for l in lists)
    print("leader=%d takeover_s=%.3f cycle_s=%s polls=%d bad=%d" % (
        leader, took, "%.3f" % cycle if cycle is not None else "timeout", polls, bad))
    return 0


def edit(path, content, lst, limit_s, poll_s, ports):
    old = {p: etag(p, lst) for p in ports}
    tmp = path + ".tmp"
    shutil.copyfile(content, tmp)
    os.replace(tmp, path)
    t0 = time.monotonic()
    wall = time.time()
    per = {}
    for now in ticks(poll_s, limit_s):
        tags = {p: etag(p, lst) for p in ports}
        for p in ports:
            if p not in per and tags[p] is not None and tags[p] != old[p]:
                per[p] = now
        vals = set(tags.values())
        if len(per) == len(ports) and len(vals) == 1:
            print("t0=%.6f first_s=%.3f all_s=%.3f etag=%s per=%s" % (
                wall, min(per.values()), time.monotonic() - t0, vals.pop(),
                ",".join("%.3f" % per[p] for p in ports)))
            return 0
    print("timeout=1 t0=%.6f per=%s" % (wall, per))
    return 1


STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z\s")
EVENTS = (("local", "List published."), ("db", "List published to the database."),
          ("followed", "List followed from the leader."))


def logs(t0, lst, files):
    want = re.compile(r"\blist=" + re.escape(lst) + r"(\s|$)")
    for f in files:
        got = {}
        with open(f, errors="replace") as fh:
            for line in fh:
                m = STAMP.match(line)
                if not m or not want.search(line):
                    continue
                whole, _, frac = m.group(1).partition(".")
                ts = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(
                    tzinfo=datetime.timezone.utc).timestamp() + float("0." + (frac or "0"))
                if ts < t0:
                    continue
                for key, text in EVENTS:
                    if key not in got and text in line:
                        got[key] = ts - t0
        print("log=%s %s" % (os.path.basename(f), " ".join(
            "%s_s=%.3f" % (k, got[k]) for k, _ in EVENTS if k in got)))
    return 0


def gzip_time(path):
    import zlib
    with open(path, "rb") as fh:
        data = fh.read()
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        c = zlib.compressobj(6, zlib.DEFLATED, 31)
        out = c.compress(data) + c.flush()
        took = time.perf_counter() - t0
        best = took if best is None else min(best, took)
    print("gzip_s=%.3f bytes=%d gzip_bytes=%d" % (best, len(data), len(out)))
    return 0


def main(a):
    cmd = a[0]
    if cmd == "settle":
        return settle(a[1], float(a[2]), [int(p) for p in a[3:]])
    if cmd == "takeover":
        return takeover(int(a[1]), a[2], float(a[3]), float(a[4]) / 1000,
                        [int(p) for p in a[5:]])
    if cmd == "edit":
        return edit(a[1], a[2], a[3], float(a[4]), float(a[5]) / 1000, [int(p) for p in a[6:]])
    if cmd == "gzip":
        return gzip_time(a[1])
    if cmd == "logs":
        return logs(float(a[1]), a[2], a[3:])
    print("usage: see the module docstring", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
