// End-to-end: `widget.js` embedded with one tag on a plain HTML page of
// another origin that sends a strict CSP, in headless Chromium against a
// real `soporte serve`. The launcher opens the panel, the first message
// opens the ticket the console shows, an unseen reply counts on the
// launcher and the title, and no CSP is violated, on a desktop, a phone
// and a dark scheme.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { accessibilityProblems } from './axe.mjs';
import { mintToken, startServer, stopServer, tempDir } from './server.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = resolve(import.meta.dirname, '../../docs/screenshots');
const T = 15000;

let tmp, server, host, hostUrl, browser;
const problems = [];

/** The host: a shop page with no React, hostile CSS and a strict CSP naming Soporte. */
function startHost() {
  return new Promise((done) => {
    const http = createServer((req, res) => {
      const soporte = server?.url ?? '';
      const ws = soporte.replace(/^http/, 'ws');
      const token = new URL(req.url, 'http://x').searchParams.get('token') ?? '';
      if (req.url.startsWith('/host.js')) {
        res.writeHead(200, { 'Content-Type': 'text/javascript' });
        // The stub queues calls made before widget.js arrives (as Intercom's does).
        // Violations by the page's own code (axe-core, run by the test over DevTools, has no source file).
        res.end(`document.addEventListener('securitypolicyviolation', (e) => { if (e.sourceFile) (window.violations ||= []).push([e.violatedDirective, e.blockedURI, e.sourceFile].join(' ')); });
window.Soporte = window.Soporte || { q: [], init: function () { this.q.push(['init', arguments]); } };
window.Soporte.init({ token: ${JSON.stringify(token)}, locale: document.documentElement.lang });`);
        return;
      }
      if (req.url.startsWith('/host.css')) {
        res.writeHead(200, { 'Content-Type': 'text/css' });
        res.end('* { color: lime !important; font-family: cursive !important; } button { background: red !important; width: 300px !important; } iframe { border: 10px solid red !important; }');
        return;
      }
      const lang = req.url.includes('lang=en') ? 'en' : 'es';
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': `default-src 'self'; script-src 'self' ${soporte}; style-src 'self' ${soporte}; connect-src ${soporte} ${ws}; img-src ${soporte} data: blob:; frame-src ${soporte}`,
      });
      res.end(`<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Tienda</title>
<link rel="stylesheet" href="/host.css"><script src="/host.js?token=${encodeURIComponent(token)}"></script>
<script async src="${soporte}/widget.js"></script></head>
<body><main><h1>Tienda de ejemplo</h1><p>Nuestros productos.</p></main></body></html>`);
    });
    http.listen(0, '127.0.0.1', () => done(http));
  });
}

async function hostPage(options, token) {
  const context = await browser.newContext(options);
  // Notifications allowed on the host, and recorded as they are shown.
  await context.grantPermissions(['notifications'], { origin: hostUrl });
  await context.addInitScript(() => {
    const Real = window.Notification;
    if (!Real) return;
    window.shownNotifications = [];
    window.Notification = class extends Real {
      constructor(title, options) {
        super(title, options);
        window.shownNotifications.push({ title, body: options?.body });
      }
    };
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // axe-core, evaluated over DevTools, adds a <style> of its own, which the
    // strict policy rightly refuses: code with no source URL is the harness.
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text()) && m.location().url !== '') problems.push(m.text());
  });
  await page.goto(`${hostUrl}/?token=${encodeURIComponent(token)}${options.locale === 'en-GB' ? '&lang=en' : ''}`);
  return page;
}

const launcher = (page, name = /Abrir chat de soporte/) => page.getByRole('button', { name });
const panel = (page) => page.frameLocator('iframe[title="Chat de soporte"]');

before(async () => {
  tmp = tempDir();
  host = await startHost();
  hostUrl = `http://127.0.0.1:${host.address().port}`;
  server = await startServer(tmp.dir, undefined, ['--allowed-origins', hostUrl]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
});

after(async () => {
  await browser?.close();
  host?.close();
  if (server) await stopServer(server);
  tmp?.cleanup();
});

describe('widget.js on a host page of another origin', { concurrency: false }, () => {
  test('the first message opens a ticket; an unseen reply counts on the launcher and the title until read', async () => {
    const shop = await hostPage({ viewport: { width: 1200, height: 760 }, locale: 'es-ES' }, mintToken(1101, 'Eva Cliente', 'CLIENTE'));
    const button = launcher(shop);
    await button.waitFor({ timeout: T });
    // The host's CSS does not reach the launcher.
    const width = await button.evaluate((b) => getComputedStyle(b).width);
    assert.equal(width, '56px');
    await button.click();
    const box = panel(shop).getByRole('textbox', { name: 'Mensaje' });
    await box.fill('No me llega la factura\nLa pedí el lunes.');
    assert.deepEqual(await accessibilityProblems(shop, '[data-soporte-widget]'), []);
    assert.deepEqual(await accessibilityProblems(shop.frame({ url: /\/widget\// })), []);
    await box.press('Enter');
    const sent = panel(shop).locator('[data-testid=message]', { hasText: 'La pedí el lunes.' });
    await sent.and(panel(shop).locator('[data-estado=ENTREGADO]')).waitFor({ timeout: T });

    // The console shows it, with the first line as its subject.
    const agent = await (await browser.newContext({ viewport: { width: 1200, height: 760 } })).newPage();
    await agent.goto(`${server.url}/agente/#token=${mintToken(2101, 'Rosa Agente', 'AGENTE')}`);
    const queued = agent.getByTestId('queue').getByRole('button', { name: /No me llega la factura/ });
    await queued.waitFor({ timeout: T });
    await queued.click();
    await agent.getByTestId('peek').getByRole('button', { name: 'Asignarme' }).click();
    await agent.getByTestId('chat').waitFor({ timeout: T });

    // The customer closes the panel; the reply arrives unseen.
    await launcher(shop, 'Cerrar chat de soporte').click();
    await agent.getByRole('textbox', { name: 'Mensaje', exact: true }).fill('Te la reenvío ahora mismo');
    await agent.getByRole('textbox', { name: 'Mensaje', exact: true }).press('Enter');
    await launcher(shop, 'Abrir chat de soporte (1 mensaje sin leer)').waitFor({ timeout: T });
    assert.equal(await shop.title(), '(1) Tienda');
    await shop.waitForFunction(() => window.shownNotifications?.length > 0, null, { timeout: T });
    assert.deepEqual(await shop.evaluate(() => window.shownNotifications), [{ title: 'Rosa Agente', body: 'Te la reenvío ahora mismo' }]);
    // Opening reads it: the count goes from both.
    await launcher(shop, /Abrir chat de soporte/).click();
    await panel(shop).locator('[data-testid=message]', { hasText: 'Te la reenvío ahora mismo' }).waitFor({ timeout: T });
    // Read for the server too (the agent sees it read) before the panel closes.
    await agent.locator('[data-testid=message][data-estado=LEIDO]', { hasText: 'Te la reenvío ahora mismo' }).waitFor({ timeout: T });
    await launcher(shop, 'Cerrar chat de soporte').click();
    await launcher(shop, 'Abrir chat de soporte').waitFor({ timeout: T });
    assert.equal(await shop.title(), 'Tienda');

    // Coming back, the same customer finds the same conversation.
    await shop.reload();
    await launcher(shop).click();
    await panel(shop).locator('[data-testid=message]', { hasText: 'Te la reenvío ahora mismo' }).waitFor({ timeout: T });
    assert.deepEqual(await shop.evaluate(() => window.violations ?? []), []);
    await shop.screenshot({ path: resolve(SHOTS, 'widget-light.png') });

    // Staff see the customer come and go: leaving the page tells them within 5 s.
    const eva = agent.getByRole('list', { name: 'Participantes' }).getByRole('listitem').filter({ hasText: 'Eva Cliente' });
    await eva.getByText('en línea').waitFor({ timeout: T });
    await shop.context().close();
    await eva.getByText('desconectado').waitFor({ timeout: 5000 });
    await agent.context().close();
  });

  test('on a phone the panel fills the screen with the composer in view; the dark scheme renders dark; English reads English', async () => {
    const phone = await hostPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, colorScheme: 'dark', locale: 'en-GB' }, mintToken(1102, 'Leo Customer', 'CLIENTE'));
    await launcher(phone, /Open support chat/).click();
    const frame = phone.frameLocator('iframe[title="Support chat"]');
    const box = frame.getByRole('textbox', { name: 'Message' });
    await box.waitFor({ timeout: T });
    const rect = await box.boundingBox();
    assert.ok(rect && rect.y >= 0 && rect.y + rect.height <= 844, `composer at ${JSON.stringify(rect)}`);
    const background = await frame.locator('.sp-chat').evaluate((el) => getComputedStyle(el).backgroundColor);
    const [r, g, b] = background.match(/\d+/g).map(Number);
    assert.ok(r + g + b < 150, `background ${background}`);
    assert.deepEqual(await accessibilityProblems(phone, '[data-soporte-widget]'), []);
    assert.deepEqual(await accessibilityProblems(phone.frame({ url: /\/widget\// })), []);
    assert.deepEqual(await phone.evaluate(() => window.violations ?? []), []);
    await phone.screenshot({ path: resolve(SHOTS, 'widget-phone-dark.png') });
    await phone.context().close();
  });

  test('the theme option wins over the system scheme', async () => {
    // A host that asks for dark on a light system (init's `theme`).
    const shop = await hostPage({ viewport: { width: 1200, height: 760 }, colorScheme: 'light', locale: 'es-ES' }, mintToken(1103, 'Noa Cliente', 'CLIENTE'));
    await shop.evaluate(() => window.Soporte.init({ token: new URLSearchParams(location.search).get('token'), theme: 'dark' }));
    await launcher(shop).click();
    const chat = panel(shop).locator('.sp-chat');
    await chat.waitFor({ timeout: T });
    const [r, g, b] = (await chat.evaluate((el) => getComputedStyle(el).backgroundColor)).match(/\d+/g).map(Number);
    assert.ok(r + g + b < 150, `background rgb(${r}, ${g}, ${b})`);
    assert.deepEqual(await accessibilityProblems(shop.frame({ url: /\/widget\// })), []);
    await shop.screenshot({ path: resolve(SHOTS, 'widget-dark.png') });
    await shop.context().close();
  });

  test('the panel may be framed by the allowed host only', async () => {
    const response = await fetch(`${server.url}/widget/`);
    const policy = response.headers.get('content-security-policy');
    assert.match(policy, new RegExp(`frame-ancestors [^;]*${hostUrl.replace(/[.:/]/g, '\\$&')}`));
    assert.doesNotMatch(policy, /frame-ancestors[^;]*\*/);
    const page = await fetch(`${server.url}/`);
    assert.match(page.headers.get('content-security-policy'), /frame-ancestors 'none'/);
  });

  test('no page error and no CSP violation happened', () => {
    assert.deepEqual(problems, []);
  });
});
