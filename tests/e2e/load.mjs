// Load check (run by hand, not in CI): C concurrent streaming openai clients for S
// seconds against weft serve on stories260K. Every request must complete with the
// greedy reference text or be refused with 429/503; the server's RSS must stay flat
// after warm-up; /metrics must agree with the client-side counts.
//   WEFT_BINARY=... WEFT_SHARED_DIR=... node load.mjs [clients=128] [seconds=60]
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { startServer } from './server.mjs';

const clients = Number(process.argv[2] ?? 128);
const seconds = Number(process.argv[3] ?? 60);
const model = path.join(process.env.WEFT_SHARED_DIR ?? '', 'models/stories260K/stories260K.gguf');
const server = await startServer([model, '--served-model-name', 'weft', '--max-seqs', '64', '--max-queued', '32']);
const rss = () => Number(fs.readFileSync(`/proc/${server.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
const client = new OpenAI({ baseURL: server.baseURL, apiKey: 'none', maxRetries: 0, timeout: 120000 });
const prompts = ['Once upon a time', 'Tom had a dog', 'The sun was', 'Lily and Ben'];
const want = {};
for (const p of prompts) {
  want[p] = (await client.completions.create({ prompt: p, max_tokens: 24, temperature: 0 })).choices[0].text;
}
const counts = { ok: 0, refused: 0, wrong: 0, failed: 0 };
const end = Date.now() + seconds * 1000;
const samples = [];
const sampler = setInterval(() => samples.push(rss()), 1000);
async function worker(i) {
  while (Date.now() < end) {
    const p = prompts[i % prompts.length];
    try {
      const stream = await client.completions.create({ prompt: p, max_tokens: 24, temperature: 0, stream: true });
      let text = '';
      for await (const chunk of stream) for (const c of chunk.choices) text += c.text;
      if (text === want[p]) counts.ok++;
      else { counts.wrong++; if (counts.wrong < 5) console.error('wrong text', JSON.stringify(text)); }
    } catch (e) {
      if (e.status === 429 || e.status === 503) counts.refused++;
      else { counts.failed++; if (counts.failed < 5) console.error(String(e)); }
    }
    i++;
  }
}
await Promise.all(Array.from({ length: clients }, (_, i) => worker(i)));
clearInterval(sampler);
const metrics = await (await fetch(`${server.root}/metrics`)).text();
const m = (re) => Number((metrics.match(re) ?? [0, 0])[1]);
const served200 = m(/weft_http_requests_total\{code="200"\} (\d+)/) - prompts.length;
const served429 = m(/weft_http_requests_total\{code="429"\} (\d+)/) + m(/weft_http_requests_total\{code="503"\} (\d+)/);
const warm = samples.slice(Math.floor(samples.length / 4));
console.log(JSON.stringify({ clients, seconds, ...counts, metrics_200: served200, metrics_refused: served429,
  rss_kb_after_warmup_min: Math.min(...warm), rss_kb_after_warmup_max: Math.max(...warm), rss_kb_last: samples.at(-1), rss_kb_every_5s: samples.filter((_, k) => k % 5 === 0) }));
const code = await server.stop();
const bad = counts.wrong || counts.failed || served200 !== counts.ok || served429 !== counts.refused || code !== 0;
process.exit(bad ? 1 : 0);
