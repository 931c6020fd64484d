"""Checks a weft bench serve JSON file and its HTML report against each other.

usage: check_report.py RUN.json RUN.html PASSES REQUESTS_PER_PASS [--allow-cancelled]
Every pass has REQUESTS_PER_PASS requests in the JSON (fewer with --allow-cancelled,
which also allows cancelled requests), and the summaries add up; every number in the
HTML's tables (data-value) equals the JSON's and shows it rounded to 2 decimals; the
summary embedded in the HTML equals the JSON's.
"""
import html.parser
import json
import sys

run, page, passes, per_pass = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
allow_cancelled = "--allow-cancelled" in sys.argv
j = json.load(open(run))
assert len(j["passes"]) == passes, (len(j["passes"]), passes)
for p in j["passes"]:
    s, reqs = p["summary"], p["requests"]
    if allow_cancelled:
        assert 0 < len(reqs) <= per_pass, len(reqs)
    else:
        assert len(reqs) == per_pass, (len(reqs), per_pass)
    assert s["sent"] == len(reqs), s
    assert s["completed"] == sum(r["ok"] for r in reqs), s
    assert s["cancelled"] == sum(r["error"] == "cancelled" for r in reqs), s
    assert s["completed"] + s["failed"] + s["cancelled"] == s["sent"], s
    assert sum(s["errors"].values()) == s["failed"], s
    ok = [r for r in reqs if r["ok"]]
    assert s["output_tokens"] == sum(r["output_tokens"] for r in ok), s
    assert s["ttft_ms"]["count"] == len(ok), s
    for r in ok:
        assert 0 < r["ttft_ms"] <= r["e2e_ms"], r
        assert len(r["itl_ms"]) == max(0, r["output_tokens"] - 1) or r["token_count"] == "usage", r
    idx = [r["index"] for r in reqs]
    assert idx == sorted(idx), idx


class Cells(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self.cur, self.script, self.in_script = [], None, "", False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "td" and "data-key" in a:
            self.cur = [a["data-key"], a["data-value"], ""]
        if tag == "script":
            assert a.get("type") == "application/json", a  # no executable script
            self.in_script = True

    def handle_endtag(self, tag):
        if tag == "td" and self.cur:
            self.cells.append(self.cur)
            self.cur = None
        if tag == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.cur is not None:
            self.cur[2] += data
        if self.in_script:
            self.script += data


c = Cells()
text = open(page).read()
c.feed(text)
assert "<svg" in text and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
    j["config"]["url"], ""), "external resource in the report"
assert len(c.cells) >= 30 * passes, len(c.cells)
for key, value, shown in c.cells:
    v = j
    for part in key.split("."):
        v = v[int(part)] if isinstance(v, list) else v[part]
    if isinstance(v, str):
        assert value == v == shown, (key, value, v, shown)
    elif isinstance(v, int):
        assert int(value) == v and int(shown) == v, (key, value, v, shown)
    else:
        assert float(value) == v, (key, value, v)
        assert shown == f"{v:.2f}", (key, shown, v)
embedded = json.loads(c.script)
assert embedded["config"] == j["config"], "embedded config differs"
for e, p in zip(embedded["passes"], j["passes"]):
    assert e == {k: v for k, v in p.items() if k != "requests"}, "embedded pass differs"
print(f"check_report: {passes} passes, {len(c.cells)} HTML cells equal the JSON")
