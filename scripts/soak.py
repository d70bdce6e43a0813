#!/usr/bin/env python3
"""The clients of scripts/soak.sh, against a `ringport serve` on 127.0.0.1 (see there).

Runs for --duration seconds, at the same time:
  verifiers  keep-alive GETs of whole files and of ranges: every complete response must be
             exactly the file's bytes (or the range's), with the right status;
  aborters   ask for the big file, read a random part, then close (half of them with a reset);
  slowloris  up to --slow connections sending a request head one byte every second: the
             server must close each within its header timeout (10 s) plus slack;
  churn      --churn connections opened and dropped (at once, after half a request, or after a
             whole request without reading the answer).
Meanwhile it samples the server's RSS and open fds twice a second. Prints one JSON line with
the counts and the samples' min/max, and exits 1 if a check failed (each failure on stderr).
"""
import argparse, hashlib, http.client, json, os, random, socket, struct, sys, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--pid", type=int, required=True)
ap.add_argument("--dir", required=True)
ap.add_argument("--duration", type=float, default=300)
ap.add_argument("--slow", type=int, default=100)
ap.add_argument("--churn", type=int, default=10000)
ap.add_argument("--header-timeout", type=float, default=10)
ap.add_argument("--baseline-fds", type=int, help="the idle server's fds, taken before any client")
ap.add_argument("--baseline-socks", type=int, default=1, help="of which sockets (the listener)")
args = ap.parse_args()

files = {n: open(os.path.join(args.dir, n), "rb").read() for n in ("small", "mid", "big")}
deadline = time.monotonic() + args.duration
lock = threading.Lock()
stats = {"verified": 0, "ranges": 0, "incomplete": 0, "aborted": 0, "slow_closed": 0,
         "slow_max_life_s": 0.0, "churned": 0, "wrong": 0}
failures = []
samples = []


def bump(key, n=1):
    with lock:
        stats[key] += n


def fail(msg):
    with lock:
        stats["wrong"] += 1
        if len(failures) < 20:
            failures.append(msg)


def verifier(seed):
    rng = random.Random(seed)
    conn = None
    while time.monotonic() < deadline:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        name = rng.choice(list(files))
        body = files[name]
        ranged = rng.random() < 0.3
        headers = {}
        if ranged:
            a = rng.randrange(len(body))
            b = rng.randrange(a, len(body))
            headers["Range"] = f"bytes={a}-{b}"
        try:
            conn.request("GET", "/" + name, headers=headers)
            r = conn.getresponse()
            got = r.read()
        except (OSError, http.client.HTTPException):
            bump("incomplete")
            conn.close()
            conn = None
            continue
        if ranged:
            if r.status != 206 or got != body[a:b + 1]:
                fail(f"GET /{name} Range bytes={a}-{b}: status {r.status}, {len(got)} bytes, "
                     f"{'same' if got == body[a:b + 1] else 'different'} bytes")
            else:
                bump("ranges")
        elif r.status != 200 or got != body:
            fail(f"GET /{name}: status {r.status}, {len(got)} of {len(body)} bytes, "
                 f"{'same' if got == body else 'different'}")
        else:
            bump("verified")
        if r.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = None


def linger_reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def aborter(seed):
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
            s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            want = rng.randrange(1, 400_000)
            got = 0
            while got < want:
                d = s.recv(min(65536, want - got))
                if not d:
                    break
                got += len(d)
            if rng.random() < 0.5:
                linger_reset(s)
            s.close()
            bump("aborted")
        except OSError:
            bump("incomplete")


def slowloris():
    head = b"GET /small HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    conns = []  # [socket, opened, bytes sent]
    while time.monotonic() < deadline:
        while len(conns) < args.slow and time.monotonic() < deadline:
            try:
                s = socket.create_connection(("127.0.0.1", args.port), timeout=5)
                s.setblocking(False)
                conns.append([s, time.monotonic(), 0])
            except OSError:
                bump("incomplete")
                break
        keep = []
        for c in conns:
            s, opened, sent = c
            closed = False
            try:
                d = s.recv(4096)
                closed = True  # a 408 or the end of the stream: the server gave up on it
            except BlockingIOError:
                pass
            except OSError:
                closed = True
            if not closed:
                try:
                    s.send(head[sent % (len(head) - 4):][:1])
                    c[2] += 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
            if closed:
                life = time.monotonic() - opened
                with lock:
                    stats["slow_closed"] += 1
                    stats["slow_max_life_s"] = max(stats["slow_max_life_s"], round(life, 1))
                s.close()
            else:
                keep.append(c)
                if time.monotonic() - opened > args.header_timeout + 5:
                    fail(f"a slowloris connection is still open after {time.monotonic() - opened:.0f} s")
                    s.close()
                    keep.pop()
        conns = keep
        time.sleep(1)
    for s, _, _ in conns:
        s.close()


def churn(seed):
    rng = random.Random(seed)
    n = 0
    # Spread over the first half of the run at most, as fast as the machine allows.
    while n < args.churn and time.monotonic() < deadline:
        try:
            s = socket.create_connection(("127.0.0.1", args.port), timeout=5)
            k = n % 3
            if k == 1:
                s.send(b"GET /mid HTTP/1.1\r\nHo")
            elif k == 2:
                s.send(b"GET /mid HTTP/1.1\r\nHost: x\r\n\r\n")
            if rng.random() < 0.5:
                linger_reset(s)
            s.close()
            n += 1
            bump("churned")
        except OSError:
            bump("incomplete")
            time.sleep(0.01)


def sample():
    """(RSS KiB, open fds, of which sockets)."""
    try:
        with open(f"/proc/{args.pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        names = os.listdir(f"/proc/{args.pid}/fd")
        socks = 0
        for n in names:
            try:
                socks += os.readlink(f"/proc/{args.pid}/fd/{n}").startswith("socket:")
            except OSError:
                pass
        return rss, len(names), socks
    except (OSError, StopIteration):
        return None


def sampler():
    while time.monotonic() < deadline:
        s = sample()
        if s is None:
            fail("the server is gone")
            return
        samples.append(s[:2])
        time.sleep(0.5)


baseline = sample()
if baseline and args.baseline_fds is not None:
    baseline = (baseline[0], args.baseline_fds, args.baseline_socks)
threads = [threading.Thread(target=verifier, args=(i,)) for i in range(2)]
threads += [threading.Thread(target=aborter, args=(10 + i,)) for i in range(2)]
threads += [threading.Thread(target=slowloris), threading.Thread(target=churn, args=(20,)),
            threading.Thread(target=sampler)]
for t in threads:
    t.start()
for t in threads:
    t.join()
# Everything closed: within the header timeout (the slowloris connections the server had not
# given up on yet are closed here) the server's sockets must come back to the idle server's
# (the listener: no connection leaked), and its other fds to the idle count plus what its
# bounded caches keep: the open-file cache (3 files here) and the splice pipe pool (at most 16
# pipes, 32 fds).
settle = None
for _ in range(int((args.header_timeout + 10) * 2)):
    s = sample()
    if s and baseline and s[2] <= baseline[2] and s[1] <= baseline[1] + 3 + 32:
        settle = s
        break
    time.sleep(0.5)
if settle is None:
    fail(f"open fds (all, sockets) did not come back to the idle server's {baseline[1:]}: {sample()}")
rss = [r for r, _ in samples] or [0]
fds = [f for _, f in samples] or [0]
out = dict(stats, duration_s=args.duration, samples=len(samples),
           rss_kib_baseline=baseline[0] if baseline else None, rss_kib_min=min(rss), rss_kib_max=max(rss),
           fds_baseline=baseline[1] if baseline else None, fds_min=min(fds), fds_max=max(fds),
           fds_after=settle[1] if settle else None, sockets_after=settle[2] if settle else None,
           sockets_baseline=baseline[2] if baseline else None, rss_kib_after=settle[0] if settle else None)
if stats["churned"] < args.churn and args.duration >= 60:
    fail(f"only {stats['churned']} of {args.churn} connections churned")
if stats["verified"] == 0:
    fail("no response was verified")
print(json.dumps(out))
for f in failures:
    print("soak: " + f, file=sys.stderr)
sys.exit(1 if failures else 0)
