// Starts and stops a real `soporte serve` for the end-to-end tests.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const webDir = resolve(import.meta.dirname, '..');
export const BIN = process.env.SOPORTE_BIN ?? resolve(webDir, '../target/debug/soporte');
export const SECRET = 'e2e-secret-e2e-secret-e2e-secret-0123456789';

export function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'soporte-e2e-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function mintToken(sub, name, role) {
  return execFileSync(BIN, ['token', '--sub', String(sub), '--name', name, '--role', role, '--jwt-secret', SECRET], { encoding: 'utf8' }).trim();
}

/**
 * Runs the server on `bind` (default a free port) with its data in `dir`
 * and `extra` flags; resolves once it prints `listening on http://HOST:PORT`.
 */
export function startServer(dir, bind = '127.0.0.1:0', extra = []) {
  return new Promise((resolvePromise, reject) => {
    const proc = spawn(
      BIN,
      ['serve', '--bind', bind, '--database-url', `sqlite://${join(dir, 'x.db')}`, '--storage', join(dir, 'files'), '--jwt-secret', SECRET, ...extra],
      { env: { ...process.env, SOPORTE_WEB_DIR: join(webDir, 'dist-demo'), SOPORTE_LOG: process.env.SOPORTE_LOG ?? 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20000);
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      const match = out.match(/listening on (http:\/\/[^\s]+)/);
      if (match) {
        clearTimeout(timer);
        resolvePromise({ url: match[1], proc, bind: match[1].replace('http://', ''), extra });
      }
    });
    proc.stderr.on('data', (chunk) => {
      out += chunk;
      if (process.env.E2E_DEBUG) process.stderr.write(chunk);
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      if (!out.includes('listening on')) reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
}

/** SIGTERM, as Ctrl+C would: in-flight messages are committed first. */
export function stopServer(server) {
  return new Promise((resolvePromise) => {
    if (server.proc.exitCode !== null) return resolvePromise();
    server.proc.once('exit', () => resolvePromise());
    server.proc.kill('SIGTERM');
    setTimeout(() => server.proc.kill('SIGKILL'), 10000).unref();
  });
}
