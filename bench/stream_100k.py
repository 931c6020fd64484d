#!/usr/bin/env python3
"""One endless stream at constant memory: attention sinks + a rolling KV window
(StreamingLLM) over 100,000 generated tokens, through `weft serve`.

Starts `weft serve MODEL --kv-sinks S --kv-window W`, asks for one streamed completion of
N tokens (ignore_eos), and every POLL seconds reads the engine's step counter and KV-cache
usage from /metrics and the server's resident memory (VmRSS) from /proc. One sequence
with a window never speculates, so after the prefill step each engine step is one
generated token. Writes OUT/stream_<label>.csv (one row per poll) and
OUT/stream_<label>.svg (tokens/s per bucket of generated tokens, RSS and KV blocks held,
against the position), and prints a summary: tokens/s and RSS in the first and last
tenth of the stream.

With --kv-budget N --kv-policy h2o|window|sinks the server keeps a KV budget instead
(heavy hitters, a window of the same size, or sinks + window: `weft serve --kv-budget`);
with --dense, neither (the stream then ends at the model's context). bench/stream_overlay_svg.py
draws several runs' CSVs in one figure.

usage: stream_100k.py WEFT MODEL OUT_DIR [--tokens N] [--sinks S] [--window W]
                      [--kv-budget N --kv-policy P | --dense]
                      [--threads T] [--bucket B] [--label L] [--poll SECONDS]
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def metric(text, name):
    m = re.search(r"^" + re.escape(name) + r"(?:\{[^}]*\})? ([0-9.eE+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def stream(base, n, done):
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": n, "stream": True, "ignore_eos": True,
                       "temperature": 0.8, "seed": 1}).encode()
    req = urllib.request.Request(base + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=24 * 3600) as r:
            for line in r:
                if line.startswith(b"data: [DONE]"):
                    break
                if line.startswith(b"data: ") and b'"finish_reason":"' in line:
                    done["finish"] = json.loads(line[6:])["choices"][0]["finish_reason"]
    except Exception as e:  # reported by the caller
        done["error"] = str(e)
    done["ended"] = True


def tokens_per_second(rows, bucket):
    """[(middle position, tokens/s)] per bucket of generated tokens, from poll rows
    (seconds, generated tokens, ...): the time each bucket boundary was passed is
    interpolated between polls."""
    def time_at(tok):
        for (t1, n1, *_), (t2, n2, *_) in zip(rows, rows[1:]):
            if n1 <= tok <= n2 and n2 > n1:
                return t1 + (t2 - t1) * (tok - n1) / (n2 - n1)
        return None
    out = []
    for start in range(0, rows[-1][1] - bucket + 1, bucket):
        ta, tb = time_at(start), time_at(start + bucket)
        if ta is not None and tb is not None and tb > ta:
            out.append((start + bucket / 2, bucket / (tb - ta)))
    return out


def svg(rows, buckets, path, title):
    w, h, left, top, ph, gap = 760, 470, 70, 40, 160, 60
    xmax = max(r[1] for r in rows) or 1

    def panel(y0, series, ylabel, color, ymax):
        out = [f'<rect x="{left}" y="{y0}" width="{w - left - 20}" height="{ph}" fill="none" stroke="#999"/>',
               f'<text x="14" y="{y0 + ph / 2}" font-size="12" transform="rotate(-90 14 {y0 + ph / 2})" '
               f'text-anchor="middle">{ylabel}</text>']
        for k in range(5):
            v = ymax * k / 4
            y = y0 + ph - ph * k / 4
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{v:.0f}</text>')
        pts = " ".join(f"{left + (w - left - 20) * x / xmax:.1f},{y0 + ph - ph * min(v, ymax) / ymax:.1f}"
                       for x, v in series)
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{pts}"/>')
        return out

    tps_max = max(b[1] for b in buckets) * 1.15 if buckets else 1
    mem_max = max(r[2] for r in rows) * 1.15
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif">',
             f'<text x="{w / 2}" y="20" font-size="14" text-anchor="middle">{title}</text>']
    parts += panel(top, [(b[0], b[1]) for b in buckets], "tokens/s", "#1f77b4", tps_max)
    parts += panel(top + ph + gap, [(r[1], r[2]) for r in rows], "RSS MiB", "#d62728", mem_max)
    y_axis = top + 2 * ph + gap
    for k in range(6):
        x = left + (w - left - 20) * k / 5
        parts.append(f'<text x="{x:.1f}" y="{y_axis + 16}" font-size="10" text-anchor="middle">{xmax * k / 5:.0f}</text>')
    parts.append(f'<text x="{(w + left) / 2}" y="{y_axis + 34}" font-size="12" text-anchor="middle">'
                 'generated tokens</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weft")
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--tokens", type=int, default=100000)
    ap.add_argument("--sinks", type=int, default=4)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bucket", type=int, default=2000)
    ap.add_argument("--poll", type=float, default=0.5)
    ap.add_argument("--label", default=None)
    ap.add_argument("--kv-budget", type=int, default=0)
    ap.add_argument("--kv-policy", choices=("h2o", "window", "sinks"), default=None)
    ap.add_argument("--dense", action="store_true")
    a = ap.parse_args()
    if (a.kv_budget > 0) != (a.kv_policy is not None):
        ap.error("--kv-budget and --kv-policy go together")
    if a.dense and a.kv_budget > 0:
        ap.error("--dense keeps every position: no --kv-budget with it")
    if a.dense:
        kv_flags, what = [], "dense KV"
    elif a.kv_budget > 0:
        kv_flags, what = ["--kv-budget", str(a.kv_budget), "--kv-policy", a.kv_policy], f"{a.kv_policy} budget {a.kv_budget}"
        if a.kv_policy == "sinks":  # the budget's first --sinks positions stay
            kv_flags += ["--kv-sinks", str(a.sinks)]
            what += f" ({a.sinks} sinks)"
    else:
        kv_flags, what = ["--kv-sinks", str(a.sinks), "--kv-window", str(a.window)], f"sinks {a.sinks} + window {a.window}"
    label = a.label or os.path.splitext(os.path.basename(a.model))[0]
    os.makedirs(a.out, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile("w", prefix=f"stream_{label}.", suffix=".server.log", delete=False)
    srv = subprocess.Popen([a.weft, "serve", a.model, "--port", str(port), "-t", str(a.threads), "--max-seqs", "1"]
                           + kv_flags, stdout=log, stderr=log)
    try:
        for _ in range(600):
            try:
                get(base + "/health", 1)
                break
            except Exception:
                if srv.poll() is not None:
                    sys.exit(f"weft serve exited ({srv.returncode}); see {log.name}")
                time.sleep(0.2)
        steps0 = metric(get(base + "/metrics"), "weft_engine_steps_total") or 0
        done = {}
        t0 = time.monotonic()
        th = threading.Thread(target=stream, args=(base, a.tokens, done), daemon=True)
        th.start()
        rows = []  # (seconds, generated tokens, rss MiB, kv usage %)
        while True:
            m = get(base + "/metrics")
            steps = (metric(m, "weft_engine_steps_total") or 0) - steps0
            usage = metric(m, "vllm:kv_cache_usage_perc") or 0
            rows.append((time.monotonic() - t0, max(0, int(steps) - 1), rss_mib(srv.pid), 100 * usage))
            if done.get("ended"):
                break
            time.sleep(a.poll)
        th.join()
        if "error" in done:
            sys.exit("the stream failed: " + done["error"])
    finally:
        srv.terminate()
        srv.wait()
    with open(os.path.join(a.out, f"stream_{label}.csv"), "w") as f:
        f.write("seconds,generated_tokens,rss_mib,kv_usage_percent\n")
        for r in rows:
            f.write(f"{r[0]:.3f},{r[1]},{r[2]:.1f},{r[3]:.2f}\n")
    buckets = tokens_per_second(rows, a.bucket)
    total = rows[-1][1]
    title = f"{label}: {what}, {total} generated tokens"
    svg(rows, buckets, os.path.join(a.out, f"stream_{label}.svg"), title)
    tenth = max(1, len(buckets) // 10)
    first, last = buckets[:tenth], buckets[-tenth:]
    rss_first = [r[2] for r in rows if r[1] <= total / 10 and r[1] > 0]
    rss_last = [r[2] for r in rows if r[1] >= total * 0.9]
    avg = lambda xs: sum(xs) / len(xs) if xs else float("nan")
    print(f"{label}: {total} tokens in {rows[-1][0]:.1f} s, finish {done.get('finish')}; "
          f"tok/s first tenth {avg([b[1] for b in first]):.1f}, last tenth {avg([b[1] for b in last]):.1f}; "
          f"RSS MiB first tenth {avg(rss_first):.1f}, last tenth {avg(rss_last):.1f}, max {max(r[2] for r in rows):.1f}; "
          f"KV usage max {max(r[3] for r in rows):.2f} %")


if __name__ == "__main__":
    main()
