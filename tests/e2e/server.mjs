// Starts `weft serve` on a free loopback port and waits for /health.
import { spawn } from 'node:child_process';

export async function startServer(args, { timeoutMs = 60000 } = {}) {
  const weft = process.env.WEFT_BINARY;
  if (!weft) throw new Error('set WEFT_BINARY to the weft executable');
  const child = spawn(weft, ['serve', ...args, '--host', '127.0.0.1', '--port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (d) => { log += d.toString(); });
  const deadline = Date.now() + timeoutMs;
  let port = null;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`weft serve exited: ${log}`);
    const m = log.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    if (m) port = Number(m[1]);
    if (port) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/health`);
        if (r.status === 200) break;
      } catch { /* not yet */ }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!port) throw new Error(`weft serve did not start: ${log}`);
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    root: `http://127.0.0.1:${port}`,
    pid: child.pid,
    log: () => log,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const done = new Promise((r) => child.on('exit', (code) => r(code)));
      child.kill('SIGTERM');
      return done;
    },
  };
}
