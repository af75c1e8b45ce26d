// A real SMTP server for the browser tests: the same aiosmtpd sink as the
// Rust email tests (crates/server/tests/fixtures/smtp_sink.py).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const SCRIPT = resolve(import.meta.dirname, '../../crates/server/tests/fixtures/smtp_sink.py');

function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.on('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

/** Starts the sink; resolves once it listens. */
export async function startSmtpSink() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'soporte-e2e-smtp-'));
  const proc = spawn('python3', [SCRIPT, String(port), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((done, fail) => {
    let out = '';
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes('ready')) done();
    });
    proc.on('exit', (code) => fail(new Error(`the SMTP sink exited with ${code} (pip install aiosmtpd)`)));
  });
  return {
    url: `smtp://127.0.0.1:${port}`,
    /** The emails received so far, in order. */
    received() {
      return readdirSync(dir)
        .filter((name) => name.endsWith('.json'))
        .sort()
        .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')));
    },
    /** Waits until `n` emails arrived (the sender looks every few seconds). */
    async waitFor(n, timeout = 20000) {
      const end = Date.now() + timeout;
      for (;;) {
        const got = this.received();
        if (got.length >= n) return got;
        if (Date.now() > end) throw new Error(`${got.length} of ${n} emails arrived`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stop() {
      proc.removeAllListeners('exit');
      proc.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
