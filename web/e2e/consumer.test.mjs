// The package as its users get it: `npm pack`, then the tarball installed into
// two fresh apps made here in a temporary folder, each built with its own
// toolchain:
//   - a Vite + React 19 + TypeScript app: type-checked against the tarball's
//     .d.ts files, built, and rendered in headless Chromium;
//   - a Next.js App Router app: `next build` prerenders a server-component page
//     that imports ChatSoporte (needs the "use client" entry) and reads a value
//     from the framework-free `@soporte/web/client` entry on the server.
// Run by `npm run e2e:consumers`. Installs use the npm cache first
// (--prefer-offline); the first run downloads Next.js. SOPORTE_KEEP_CONSUMERS=1
// keeps the temporary folder for a look.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const webDir = resolve(import.meta.dirname, '..');
const web = JSON.parse(readFileSync(join(webDir, 'package.json'), 'utf8'));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
// The versions the package itself is developed against, so the npm cache has them.
const dev = web.devDependencies;
const NEXT = process.env.SOPORTE_NEXT_VERSION ?? '^16';
// Nothing listens on port 9 (discard): the widget renders and keeps reconnecting.
const SERVER = 'http://127.0.0.1:9';

let work;
let tarball;

/** Runs a command; resolves with its output, rejects with it on a non-zero exit. */
function run(cmd, args, cwd, env = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(out) : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code} in ${cwd}:\n${out.slice(-6000)}`))));
  });
}

function writeFiles(root, files) {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), typeof text === 'string' ? text : `${JSON.stringify(text, null, 2)}\n`);
  }
}

const install = (dir) => run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], dir);

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'soporte-consumers-'));
  // prepack builds dist/ first: the tarball must not depend on an earlier build.
  await run('npm', ['pack', '--pack-destination', work, '--loglevel=error'], webDir);
  const packed = readdirSync(work).filter((f) => f.endsWith('.tgz'));
  assert.equal(packed.length, 1, `one tarball: ${packed}`);
  tarball = join(work, packed[0]);
});

after(() => {
  if (work && !process.env.SOPORTE_KEEP_CONSUMERS) rmSync(work, { recursive: true, force: true });
});

describe('the packed @soporte/web in fresh apps', { concurrency: false }, () => {
  test('a Vite + React 19 app type-checks, builds and renders ChatSoporte from the tarball', { timeout: 600_000 }, async () => {
    const app = join(work, 'vite-app');
    writeFiles(app, {
      'package.json': {
        name: 'vite-consumer',
        private: true,
        type: 'module',
        dependencies: { '@soporte/web': `file:${tarball}`, react: dev.react, 'react-dom': dev['react-dom'] },
        devDependencies: { vite: dev.vite, '@vitejs/plugin-react': dev['@vitejs/plugin-react'], typescript: dev.typescript, '@types/react': dev['@types/react'], '@types/react-dom': dev['@types/react-dom'] },
      },
      'tsconfig.json': {
        compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM', 'DOM.Iterable'], jsx: 'react-jsx', strict: true, noEmit: true, skipLibCheck: false, types: [] },
        include: ['src'],
      },
      'vite.config.js': "import { defineConfig } from 'vite';\nimport react from '@vitejs/plugin-react';\nexport default defineConfig({ plugins: [react()] });\n",
      'index.html': '<!doctype html>\n<html lang="es">\n<head><meta charset="utf-8"><title>Consumer</title></head>\n<body><div id="root"></div><script type="module" src="/src/main.tsx"></script></body>\n</html>\n',
      'src/css.d.ts': "declare module '*.css';\n",
      'src/main.tsx': `import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { ChatSoporte, describeError, translator, type ChatError } from '@soporte/web';
import { CloseCode, closePolicy } from '@soporte/web/client';
import '@soporte/web/styles.css';

// The types come from the tarball: a wrong shape here fails tsc.
const error: ChatError = { kind: 'transferred' };
const policy = closePolicy(CloseCode.Transferred);
document.title = describeError(error, translator('es')) + (policy.action === 'final' ? ' (final)' : '');

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ChatSoporte ticketId={5} token="x.eyJzdWIiOiIxMDAxIiwibmFtZSI6IkFuYSJ9.y" baseUrl="${SERVER}" />
  </StrictMode>,
);
`,
    });
    await install(app);
    await run('npx', ['tsc', '-p', '.'], app);
    await run('npx', ['vite', 'build', '--logLevel', 'warn'], app);
    assert.ok(existsSync(join(app, 'dist/index.html')));

    const server = await serve(join(app, 'dist'));
    let browser;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const page = await browser.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(server.url);
      await page.getByRole('heading', { name: 'Chat de Soporte' }).waitFor({ timeout: 15000 });
      await page.getByText('Ticket #5').waitFor();
      await page.getByRole('textbox', { name: 'Mensaje', exact: true }).waitFor();
      // No server: the widget says it is (re)connecting rather than failing.
      const status = await page.locator('.sp-chat [data-status]').getAttribute('data-status');
      assert.ok(['connecting', 'reconnecting'].includes(status), `status ${status}`);
      // The package's stylesheet is applied.
      assert.equal(await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--sp-accent').trim()), '#1f6feb');
      assert.equal(await page.locator('.sp-chat').evaluate((el) => getComputedStyle(el).display), 'flex');
      assert.equal(await page.title(), 'El ticket fue transferido a otro agente. (final)');
      assert.deepEqual(errors, []);
    } finally {
      await browser?.close();
      server.close();
    }
  });

  test('a Next.js App Router app builds a page that imports ChatSoporte from the tarball', { timeout: 900_000 }, async () => {
    const app = join(work, 'next-app');
    writeFiles(app, {
      'package.json': {
        name: 'next-consumer',
        private: true,
        scripts: { build: 'next build' },
        dependencies: { '@soporte/web': `file:${tarball}`, next: NEXT, react: dev.react, 'react-dom': dev['react-dom'] },
      },
      'app/layout.jsx': "export const metadata = { title: 'Consumer' };\nexport default function RootLayout({ children }) {\n  return (\n    <html lang=\"es\">\n      <body>{children}</body>\n    </html>\n  );\n}\n",
      // A server component: ChatSoporte must arrive as a client component
      // ("use client"), and the client entry must run on the server.
      'app/page.jsx': `import { ChatSoporte } from '@soporte/web';
import { CloseCode } from '@soporte/web/client';
import '@soporte/web/styles.css';

export default function Page() {
  return (
    <main>
      <p data-testid="server">cierre final: {CloseCode.Transferred}</p>
      <ChatSoporte ticketId={5} token="x.eyJzdWIiOiIxMDAxIn0.y" baseUrl="${SERVER}" />
    </main>
  );
}
`,
    });
    await install(app);
    await run('npx', ['next', 'build'], app);
    const html = readFileSync(join(app, '.next/server/app/index.html'), 'utf8');
    assert.match(html, /cierre final: (<!-- -->)?4001/);
    assert.match(html, /Chat de Soporte/);
    assert.match(html, /Ticket #(<!-- -->)?5/);
  });
});

/** A static file server for a built app, on a free port. */
function serve(root) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const file = join(root, path === '/' ? 'index.html' : path);
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  // close() also drops idle keep-alive connections, so the test process can exit at once.
  const close = () => {
    server.close();
    server.closeAllConnections();
  };
  return new Promise((resolvePromise) => server.listen(0, '127.0.0.1', () => resolvePromise({ url: `http://127.0.0.1:${server.address().port}/`, close })));
}
