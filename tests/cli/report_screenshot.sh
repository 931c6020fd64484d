#!/usr/bin/env bash
# weft bench serve's HTML report renders in headless Chromium: a sweep against weft serve
# on loopback, a screenshot of its report, and a check that the picture is not blank
# (many colours, much ink: tables, axes, coloured lines). Skips (77) without chromium.
# usage: report_screenshot.sh WEFT SHARED_DIR WORK_DIR
set -euo pipefail
weft=$1 shared=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
fail() { echo "FAIL: $*"; [ -f "$work/server.log" ] && tail -n 20 "$work/server.log"; exit 1; }
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "SKIP: no chromium (scripts/install-deps.sh installs it)"; exit 77; }
# shellcheck source=lib/weft_server.sh
. "$here/lib/weft_server.sh"
start_weft_server "$shared/models/stories260K/stories260K.gguf" -t 1
"$weft" bench serve --url "$base" -n 24 -c 1,4,8 --prompt-len 24 --output-len 16 --workload lognormal \
  --html "$work/report.html" > /dev/null 2>&1 || fail "bench serve"
rm -f "$work/shot.png"
# Chromium wants a writable home for its profile; keep it inside the work folder.
HOME="$work" timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$work/profile" --screenshot="$work/shot.png" --window-size=1200,1600 \
  "file://$work/report.html" > "$work/chromium.log" 2>&1 || { tail -n 5 "$work/chromium.log"; fail "chromium"; }
[ -s "$work/shot.png" ] || fail "no screenshot"
python3 - "$work/shot.png" <<'PY' || fail "blank screenshot"
# Decode the PNG (8-bit RGB/RGBA, not interlaced: what Chromium writes) with the stdlib.
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours, ink = set(), 0
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        colours.add(px)
        ink += px != b"\xff\xff\xff"
    prev = line
frac = ink / (w * h)
print(f"report_screenshot: {w}x{h}, {len(colours)} colours, {100 * frac:.1f}% non-white")
assert len(colours) > 50, len(colours)
assert 0.02 < frac < 0.9, frac
PY
echo "report_screenshot: the report renders"
