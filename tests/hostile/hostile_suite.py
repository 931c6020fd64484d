#!/usr/bin/env python3
"""Hostile clients against `weft serve` on loopback (stories260K): transport bombs,
slowloris, pipelining, HTTP/1.0, lifecycle faults, and the request-level checks that
already held. Every loop is bounded in count and time; stdlib only.

usage: hostile_suite.py WEFT SHARED_DIR WORK_DIR [--quick]
--quick (sanitizer builds): fewer connections, looser timing bounds, same assertions.
"""
import json
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

WEFT, SHARED, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
QUICK = "--quick" in sys.argv[4:]
MODEL = os.path.join(SHARED, "models/stories260K/stories260K.gguf")
KEY = "hostile-key"
SLOW = 5 if QUICK else 1  # timing bounds scale with the build's speed
os.makedirs(WORK, exist_ok=True)

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Server:
    """A `weft serve` child on a free loopback port."""

    def __init__(self, name, *flags, model=MODEL, wait_ready=True):
        self.log_path = os.path.join(WORK, name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([WEFT, "serve", model, "--host", "127.0.0.1", "--port", "0", "-t", "1",
                                      "--api-key", KEY, *flags], stdout=self.log, stderr=subprocess.STDOUT)
        self.port = None
        deadline = time.time() + 60
        while time.time() < deadline and self.port is None:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", open(self.log_path).read())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                raise AssertionError(f"{name}: server exited: {self.text()[-500:]}")
            else:
                time.sleep(0.05)
        assert self.port, f"{name}: no port reported"
        while wait_ready and time.time() < deadline:
            if request(self.port, "GET", "/health")[0] == 200:
                return
            time.sleep(0.05)

    def text(self):
        return open(self.log_path, errors="replace").read()

    def rss_mb(self, field="VmRSS"):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not exit on SIGTERM")
        self.log.close()
        return self.proc.returncode


class Reader:
    """Reads HTTP/1.x responses off one socket (Content-Length, chunked, or to close)."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _fill(self):
        d = self.sock.recv(1 << 16)
        if not d:
            raise EOFError
        self.buf += d

    def _until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep)
        out, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return out

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self):
        head = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        version, status = head[0].split(" ")[0], int(head[0].split(" ")[1])
        headers = {}
        for h in head[1:]:
            k, v = h.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                n = int(self._until(b"\r\n"), 16)
                body += self._take(n)
                self._take(2)
                if n == 0:
                    break
        else:
            try:
                while True:
                    self._fill()
            except EOFError:
                pass
            body, self.buf = self.buf, b""
        return version, status, headers, body


def raw_request(method, path, body=b"", headers=(), version="1.1", auth=True):
    h = [f"{method} {path} HTTP/{version}", "Host: 127.0.0.1"]
    if auth:
        h.append(f"Authorization: Bearer {KEY}")
    if body:
        h += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    h += list(headers)
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


def request(port, method, path, body=None, headers=(), auth=True, timeout=30):
    """One request on a fresh connection: (status, headers, body bytes); status 0 if refused."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(raw_request(method, path, data, list(headers) + ["Connection: close"], auth=auth))
            _, status, hdrs, payload = Reader(s).response()
            return status, hdrs, payload
    except (ConnectionError, EOFError, socket.timeout):
        return 0, {}, b""


def completion(port, **fields):
    body = {"prompt": "Once upon a time", "max_tokens": 4, "temperature": 0, **fields}
    return request(port, "POST", "/v1/completions", body)


def metric(port, name):
    _, _, text = request(port, "GET", "/metrics")
    m = re.search(rf"^{name} (\S+)$", text.decode(), re.M)
    return float(m.group(1)) if m else None


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(0.99 * len(xs)))]


RESULTS = []


def case(fn):
    def run(*args):
        t0 = time.time()
        try:
            fn(*args)
            RESULTS.append((fn.__name__, True, ""))
            print(f"PASS {fn.__name__} ({time.time() - t0:.1f} s)", flush=True)
        except Exception as e:  # report every case, then fail at the end
            RESULTS.append((fn.__name__, False, repr(e)))
            print(f"FAIL {fn.__name__}: {e!r}", flush=True)
    return run


# ---- the request-level checks that held before, kept as regressions ----------------

@case
def request_level_validation(srv):
    for bad in [b"{", b"[]", b"null", b'{"prompt": 5}', b'{"prompt":"x","max_tokens":"ten"}',
                b'{"prompt":"x","temperature":-1}', b"\xff\xfe", b'{"prompt":"x"' + b"]" * 100]:
        st, _, body = request(srv.port, "POST", "/v1/completions", bad)
        assert 400 <= st < 500, (bad, st, body)
        assert json.loads(body)["error"]["message"], body
    for path in ["/../../etc/passwd", "/v1/../../etc/passwd", "/%2e%2e/etc/passwd", "/v1/nothing"]:
        assert request(srv.port, "GET", path)[0] == 404, path
    assert request(srv.port, "GET", "/v1/models", auth=False)[0] == 401
    assert request(srv.port, "POST", "/v1/completions", {"prompt": "x"}, auth=False)[0] == 401
    assert request(srv.port, "GET", "/health", auth=False)[0] == 200
    assert request(srv.port, "GET", "/v1/completions")[0] == 405
    deep = b'{"prompt":' + b"[" * 100000 + b"]" * 100000 + b"}"
    t = time.time()
    assert request(srv.port, "POST", "/v1/completions", deep)[0] == 400
    assert time.time() - t < 1 * SLOW


@case
def concurrent_greedy_identical(srv):
    want = json.loads(completion(srv.port, max_tokens=8)[2])["choices"][0]["text"]
    got, lock = [], threading.Lock()

    def worker():
        for _ in range(4):
            st, _, body = completion(srv.port, max_tokens=8)
            with lock:
                got.append((st, json.loads(body)["choices"][0]["text"] if st == 200 else body))

    ts = [threading.Thread(target=worker) for _ in range(16)]
    [t.start() for t in ts]
    [t.join(60) for t in ts]
    assert len(got) == 64 and all(g == (200, want) for g in got), got[:3]


# ---- body bombs ----------------------------------------------------------------------

def send_until_answered(port, head, chunks, limit_bytes):
    """Sends `head`, then chunks until the server answers or closes; (status, sent, secs)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(head)
    s.setblocking(False)
    sent, t0, answer = 0, time.time(), b""
    try:
        for c in chunks:
            if sent > limit_bytes or time.time() - t0 > 10:
                break
            view = memoryview(c)
            while view and time.time() - t0 < 10:
                try:
                    answer += s.recv(65536)
                    if answer:
                        raise StopIteration
                except BlockingIOError:
                    pass
                try:
                    n = s.send(view)
                    sent += n
                    view = view[n:]
                except BlockingIOError:
                    time.sleep(0.001)
    except (StopIteration, ConnectionError):
        pass
    s.setblocking(True)
    s.settimeout(5)
    try:
        while b"\r\n\r\n" not in answer:
            d = s.recv(65536)
            if not d:
                break
            answer += d
    except (ConnectionError, socket.timeout):
        pass
    s.close()
    status = int(answer.split(b" ")[1]) if answer.startswith(b"HTTP/") else 0
    return status, sent, time.time() - t0


@case
def chunked_body_bomb(srv):
    hwm0 = srv.rss_mb("VmHWM")
    head = (f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    piece = b"a" * (1 << 20)
    chunk = b"%x\r\n" % len(piece) + piece + b"\r\n"
    status, sent, secs = send_until_answered(srv.port, head, (chunk for _ in range(200)), 200 << 20)
    assert status == 413, status
    assert secs < 1 * SLOW, secs
    assert sent < 64 << 20, f"server kept reading: {sent} bytes"
    growth = srv.rss_mb("VmHWM") - hwm0
    assert growth < 50, f"peak RSS grew {growth:.0f} MB"
    print(f"  chunked bomb: 413 after {sent >> 20} MiB sent, {secs:.2f} s, peak RSS +{growth:.1f} MB")


@case
def content_length_over_limit(srv):
    head = raw_request("POST", "/v1/completions", b"", ["Content-Type: application/json",
                                                       f"Content-Length: {200 << 20}"])
    status, sent, secs = send_until_answered(srv.port, head, (b"a" * (1 << 20) for _ in range(200)), 200 << 20)
    assert status == 413 and secs < 1 * SLOW, (status, secs)


@case
def gzip_body_bomb(srv):
    import zlib
    hwm0 = srv.rss_mb("VmHWM")
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    parts = [z.compress(b'{"prompt":"')] + [z.compress(b"a" * (1 << 20)) for _ in range(400)]
    bomb = b"".join(parts) + z.compress(b'"}') + z.flush()
    t = time.time()
    st, _, body = request(srv.port, "POST", "/v1/completions", bomb, headers=["Content-Encoding: gzip"])
    secs = time.time() - t
    assert st == 415, (st, body)
    assert secs < 1 * SLOW, secs
    growth = srv.rss_mb("VmHWM") - hwm0
    assert growth < 50, growth
    print(f"  gzip bomb ({len(bomb) >> 10} KiB -> 400 MiB): {st} in {secs:.3f} s, peak RSS +{growth:.1f} MB")


@case
def many_json_keys(srv):
    for n, want in [(80000, 400), (300000, 400)]:  # ids beyond the 512-token vocabulary
        body = json.dumps({"prompt": "x", "max_tokens": 1, "logit_bias": {str(i): 1 for i in range(n)}}).encode()
        assert len(body) < 4 << 20
        t = time.time()
        st, _, resp = request(srv.port, "POST", "/v1/completions", body)
        secs = time.time() - t
        assert st == want, (n, st, resp[:200])
        # The time bound is the Release run's; sanitizer builds parse JSON ~20x slower
        # (TSan: 300k keys in ~3-6 s on a loaded 2-core machine), so there it only bounds
        # a runaway (a quadratic parse would take minutes).
        assert secs < (1 if not QUICK else 30), (n, secs)
        print(f"  logit_bias with {n} keys: {st} in {secs:.3f} s")
    body = json.dumps({"prompt": "x", "max_tokens": 1, "logit_bias": {str(i % 512): 1 for i in range(5000)}})
    assert request(srv.port, "POST", "/v1/completions", body.encode())[0] == 200


@case
def header_limits(srv):
    assert request(srv.port, "GET", "/health", headers=["X-Big: " + "a" * 20000])[0] == 431
    assert request(srv.port, "GET", "/health", headers=[f"X-{i}: 1" for i in range(150)])[0] == 431


# ---- connections ---------------------------------------------------------------------

@case
def pipelined_requests_in_order(srv):
    reqs = [raw_request("POST", "/tokenize", json.dumps({"prompt": "a " * (i + 1)}).encode()) for i in range(5)]
    reqs[2] = raw_request("GET", "/health")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        s.sendall(b"".join(reqs))
        r = Reader(s)
        got = [r.response() for _ in range(5)]
    assert [g[1] for g in got] == [200] * 5, [g[1] for g in got]
    counts = [json.loads(g[3]).get("count") for g in got]
    assert counts[2] is None and counts[:2] + counts[3:] == sorted(counts[:2] + counts[3:]), counts
    assert len(set(counts)) == 5, counts


@case
def http10_stream_not_chunked(srv):
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 6, "temperature": 0, "stream": True}).encode()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        s.sendall(raw_request("POST", "/v1/completions", body, version="1.0"))
        version, status, headers, payload = Reader(s).response()
    assert version == "HTTP/1.0" and status == 200, (version, status)
    assert "transfer-encoding" not in headers, headers
    assert payload.endswith(b"data: [DONE]\n\n"), payload[-100:]


@case
def backlog_burst(srv):
    socks, worst = [], 0.0
    try:
        for _ in range(300 if QUICK else 1000):
            t = time.time()
            socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
            worst = max(worst, time.time() - t)
    finally:
        [s.close() for s in socks]
    assert worst < 0.5, f"a connect took {worst:.2f} s"


@case
def connection_cap_503(_):
    srv = Server("cap", "--max-connections", "20")
    try:
        idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(20)]
        time.sleep(0.2)
        st, _, body = request(srv.port, "GET", "/health")
        assert st == 503 and b"connections" in body, (st, body)
        [s.close() for s in idle]
        deadline = time.time() + 5
        while request(srv.port, "GET", "/health")[0] != 200:
            assert time.time() < deadline, "the cap never freed"
            time.sleep(0.05)
    finally:
        srv.stop()


def open_slowloris(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        socks.append(s)
    return socks


def trickle(socks):
    alive = 0
    for s in socks:
        try:
            s.send(b"X")
            alive += 1
        except OSError:
            pass
    return alive


@case
def slowloris_latency(srv):
    def lat(k):
        out = []
        for _ in range(k):
            t = time.time()
            st, _, _ = completion(srv.port, max_tokens=2)
            assert st == 200
            out.append(time.time() - t)
        return out

    lat(5)
    idle = p99(lat(40))
    n = 300 if QUICK else 2000
    socks = open_slowloris(srv.port, n)
    try:
        # Each connection sends a header byte a second (the probe: one per 3 s),
        # spread over time as such clients would be, while the normal client measures.
        samples, t_end, next_sock, last = [], time.time() + 3, 0, time.time()
        while time.time() < t_end:
            now = time.time()
            k = min(n, int(n * (now - last)) + 1)
            trickle([socks[(next_sock + i) % n] for i in range(k)])
            next_sock, last = (next_sock + k) % n, now
            samples += lat(1)
        loaded = p99(samples)
        print(f"  p99 latency idle {idle * 1e3:.1f} ms, with {n} slowloris {loaded * 1e3:.1f} ms")
        # 2x the idle p99, plus 10 ms for the scheduler of a small machine shared with other
        # work (idle p99 ~1 ms here; a thread-per-connection server instead times out).
        assert loaded <= 2 * idle * SLOW + 0.010, (idle, loaded)
        # The header timeout (3 s here) cuts them off however they trickle.
        deadline = time.time() + 6
        while time.time() < deadline and trickle(socks) > 0:
            time.sleep(0.5)
        left = trickle(socks)
        assert left == 0, f"{left} slowloris connections still open after the header timeout"
    finally:
        [s.close() for s in socks]


@case
def slow_reader_does_not_stall(srv):
    body = json.dumps({"prompt": "Once", "max_tokens": 1500, "ignore_eos": True, "stream": True}).encode()
    readers = []
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(raw_request("POST", "/v1/completions", body))
        readers.append(s)  # never read
    rss0 = srv.rss_mb()
    t = time.time()
    for _ in range(5):
        assert completion(srv.port, max_tokens=4)[0] == 200
    secs = time.time() - t
    time.sleep(2)
    growth = srv.rss_mb() - rss0
    [s.close() for s in readers]
    assert secs < 5 * SLOW, secs
    assert growth < 50, growth


def wait_for(pred, seconds, what):
    """Polls pred() every 20 ms until it holds; fails naming `what` after `seconds`."""
    t = time.time()
    while not pred():
        assert time.time() - t < seconds, what
        time.sleep(0.02)


@case
def nonstream_client_leaves(srv):
    # The previous case's abandoned streams must drain first, so the count below is ours.
    wait_for(lambda: metric(srv.port, "weft_num_requests_in_flight") == 0, 5 * SLOW,
             "abandoned streams of the previous case are still generating")
    body = json.dumps({"prompt": "Once", "max_tokens": 100000, "ignore_eos": True}).encode()
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(raw_request("POST", "/v1/completions", body))
    wait_for(lambda: metric(srv.port, "weft_num_requests_in_flight") == 1, 5 * SLOW,
             "the non-streaming request never started")
    time.sleep(0.2)  # it is generating now, with nobody reading yet
    s.close()
    wait_for(lambda: metric(srv.port, "weft_num_requests_in_flight") == 0, 0.5 * SLOW,
             "the abandoned request is still generating")
    wait_for(lambda: '"status":499' in srv.text() or "status=499" in srv.text(), 2 * SLOW,
             "no access-log line with status 499 for the abandoned request")


# ---- lifecycle -----------------------------------------------------------------------

@case
def port_in_use(srv):
    t = time.time()
    p = subprocess.run([WEFT, "serve", MODEL, "--host", "127.0.0.1", "--port", str(srv.port)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and str(srv.port) in p.stderr and "in use" in p.stderr, (p.returncode, p.stderr)
    assert "listening" not in p.stderr
    assert time.time() - t < 10 * SLOW


@case
def missing_model_before_listening(_):
    p = subprocess.run([WEFT, "serve", "nosuchmodel-hostile", "--port", "0"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "listening" not in p.stderr, p.stderr
    assert "nosuchmodel-hostile" in p.stderr, p.stderr


@case
def model_file_truncated(_):
    path = os.path.join(WORK, "victim.gguf")
    shutil.copy(MODEL, path)
    srv = Server("truncated", model=path)
    try:
        assert completion(srv.port)[0] == 200
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        st, _, body = completion(srv.port)
        assert st == 503 and b"model file" in body, (st, body)
        assert request(srv.port, "GET", "/health")[0] == 503
        assert srv.proc.poll() is None, "the server died"
    finally:
        srv.stop()


@case
def sigterm_with_slow_clients(_):
    srv = Server("sigterm", "--shutdown-timeout", "2")
    socks = open_slowloris(srv.port, 100 if QUICK else 500)
    body = json.dumps({"prompt": "Once", "max_tokens": 100000, "ignore_eos": True, "stream": True}).encode()
    stuck = socket.create_connection(("127.0.0.1", srv.port))
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.sendall(raw_request("POST", "/v1/completions", body))  # never read
    time.sleep(0.5)
    t = time.time()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        rc = srv.proc.wait(2 + 3 * SLOW)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        raise AssertionError("still running after the shutdown timeout")
    finally:
        [s.close() for s in socks]
        stuck.close()
    secs = time.time() - t
    print(f"  SIGTERM with slow clients: exit {rc} after {secs:.2f} s (timeout 2 s)")
    assert rc == 0, rc


def main():
    srv = Server("main", "--header-timeout", "3", "--max-seqs", "16", "--log-format", "json")
    try:
        for c in [request_level_validation, concurrent_greedy_identical, chunked_body_bomb, content_length_over_limit,
                  gzip_body_bomb, many_json_keys, header_limits, pipelined_requests_in_order,
                  http10_stream_not_chunked, backlog_burst, slowloris_latency, slow_reader_does_not_stall,
                  nonstream_client_leaves, port_in_use]:
            c(srv)
        assert srv.proc.poll() is None, "the server died"
        rc = srv.stop()
        RESULTS.append(("clean_exit", rc == 0, f"exit {rc}"))
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
    for c in [connection_cap_503, missing_model_before_listening, model_file_truncated, sigterm_with_slow_clients]:
        c(None)
    failed = [r for r in RESULTS if not r[1]]
    print(f"hostile suite: {len(RESULTS) - len(failed)}/{len(RESULTS)} passed")
    for name, _, why in failed:
        print(f"  FAILED {name}: {why}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
