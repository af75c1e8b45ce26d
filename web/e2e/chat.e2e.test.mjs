// End-to-end: a customer and agents in real headless Chromium against a real
// `soporte serve`. Run by `npm run e2e` (scripts/test does it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { accessibilityProblems } from './axe.mjs';
import { pdf, png } from './files.mjs';
import { mintToken, startServer, stopServer, tempDir } from './server.mjs';
import { startSmtpSink } from './smtp.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = resolve(import.meta.dirname, '../../docs/screenshots');
const T = 15000;

let tmp, server, smtp, browser, customer, agent, maria;
const tokens = {};

/** A page that fails the test on any uncaught error or CSP violation. */
async function page(context, errors) {
  const p = await context.newPage();
  p.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  p.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) errors.push(m.text());
  });
  return p;
}

const errors = [];

before(async () => {
  tmp = tempDir();
  smtp = await startSmtpSink();
  server = await startServer(tmp.dir, undefined, ['--smtp-url', smtp.url, '--email-from', 'Soporte <soporte@example.com>']);
  tokens.customer = mintToken(1001, 'Ana Cliente', 'CLIENTE');
  tokens.agent = mintToken(2001, 'Carlos Agente', 'AGENTE');
  tokens.maria = mintToken(2002, 'María Agente', 'AGENTE');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  const ctx = () => browser.newContext({ viewport: { width: 1200, height: 760 }, locale: 'es-ES', timezoneId: 'Europe/Madrid' });
  customer = await page(await ctx(), errors);
  agent = await page(await ctx(), errors);
  maria = await page(await ctx(), errors);
});

after(async () => {
  // Left for debugging a failed run (web/e2e/.tmp is not committed).
  const dir = resolve(import.meta.dirname, '.tmp');
  mkdirSync(dir, { recursive: true });
  for (const [name, p] of Object.entries({ customer, agent, maria })) await p?.screenshot({ path: resolve(dir, `${name}.png`) }).catch(() => {});
  await browser?.close();
  if (server) await stopServer(server);
  smtp?.stop();
  tmp?.cleanup();
});

const messageText = (p, text) => p.locator('[data-testid=message]', { hasText: text });

describe('Soporte in the browser', { concurrency: false }, () => {
  test('the customer opens a ticket and both sides chat, with typing and read receipts', async () => {
    await customer.goto(`${server.url}/#token=${tokens.customer}`);
    await customer.getByLabel('Abrir un ticket nuevo').fill('No puedo acceder a mi cuenta');
    await customer.getByRole('button', { name: 'Abrir ticket' }).click();
    await customer.locator('[data-status=connected]').waitFor({ timeout: T });

    await agent.goto(`${server.url}/agente/#token=${tokens.agent}`);
    const conversation = agent.getByTestId('queue').getByRole('button', { name: /No puedo acceder a mi cuenta/ });
    await conversation.waitFor({ timeout: T });

    const box = customer.getByRole('textbox', { name: 'Mensaje', exact: true });
    await box.fill('Hola, no puedo entrar desde ayer');
    await box.press('Enter');
    await messageText(customer, 'Hola, no puedo entrar').and(customer.locator('[data-estado=ENTREGADO]')).waitFor({ timeout: T });

    // The inbox counts it as unread before the agent opens the conversation.
    await conversation.getByTestId('unread').filter({ hasText: '1' }).waitFor({ timeout: T });
    await conversation.click();
    // Read before taking it: nothing is claimed until "Asignarme".
    const peek = agent.getByTestId('peek');
    await messageText(peek, 'Hola, no puedo entrar desde ayer').waitFor({ timeout: T });
    assert.equal(await agent.getByRole('textbox', { name: 'Mensaje', exact: true }).count(), 0);
    assert.deepEqual(await accessibilityProblems(agent, '[data-testid=peek]'), []);
    await peek.getByRole('button', { name: 'Asignarme' }).click();
    await messageText(agent.getByTestId('chat'), 'Hola, no puedo entrar desde ayer').waitFor({ timeout: T });
    // "Asignarme" gave it to Carlos.
    await agent.getByTestId('mine').getByRole('button', { name: /No puedo acceder/ }).waitFor({ timeout: T });

    // Typing, seen by the customer.
    const agentBox = agent.getByRole('textbox', { name: 'Mensaje', exact: true });
    await agentBox.pressSequentially('Hola Ana, ¿qué error', { delay: 30 });
    await customer.getByTestId('typing').filter({ hasText: 'Carlos Agente está escribiendo...' }).waitFor({ timeout: T });
    await agentBox.pressSequentially(' ves?', { delay: 30 });
    await agentBox.press('Enter');
    await messageText(customer, 'Hola Ana, ¿qué error ves?').waitFor({ timeout: T });
    await customer.waitForFunction(() => document.querySelector('[data-testid=typing]')?.textContent === '', null, { timeout: T });

    // Read receipts both ways: each side has the other's message on screen.
    await messageText(customer, 'Hola, no puedo entrar').and(customer.locator('[data-estado=LEIDO]')).waitFor({ timeout: T });
    await messageText(agent, 'Hola Ana, ¿qué error ves?').and(agent.locator('[data-estado=LEIDO]')).waitFor({ timeout: T });
    assert.equal(await customer.getByRole('img', { name: 'Leído' }).count(), 1);
    for (const p of [customer, agent]) assert.deepEqual(await accessibilityProblems(p), []);
  });

  test('the widget works from the keyboard alone, and in English', async () => {
    // Tab from the top of the page to the message box.
    await customer.locator('body').click({ position: { x: 5, y: 700 } });
    for (let i = 0; i < 40; i++) {
      if (await customer.evaluate(() => document.activeElement?.classList.contains('sp-textarea'))) break;
      await customer.keyboard.press('Tab');
    }
    assert.ok(await customer.evaluate(() => document.activeElement?.classList.contains('sp-textarea')), 'Tab reaches the message box');
    await customer.keyboard.type('Con el teclado');
    await customer.keyboard.press('Shift+Enter');
    await customer.keyboard.type('segunda línea');
    await customer.keyboard.press('Enter');
    await messageText(agent, 'segunda línea').waitFor({ timeout: T });
    assert.equal(await messageText(agent, 'segunda línea').locator('.sp-message-text').innerText(), 'Con el teclado\nsegunda línea');

    // The emoji picker: open with Enter, move with the arrows, pick with Enter.
    await customer.keyboard.press('Tab');
    assert.equal(await customer.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Agregar emoji');
    await customer.keyboard.press('Enter');
    await customer.getByRole('dialog', { name: 'Selector de emoji' }).waitFor({ timeout: T });
    await customer.keyboard.press('ArrowRight');
    await customer.keyboard.press('Enter');
    await customer.waitForFunction(() => document.activeElement?.classList.contains('sp-textarea'), null, { timeout: T });
    assert.equal(await customer.getByRole('textbox', { name: 'Mensaje', exact: true }).inputValue(), '😂');
    await customer.keyboard.press('Enter');
    await agent.locator('.sp-message-text', { hasText: /^😂$/ }).waitFor({ timeout: T });

    await customer.getByRole('button', { name: 'EN', exact: true }).click();
    await customer.getByRole('heading', { name: 'Support chat' }).waitFor({ timeout: T });
    await customer.getByRole('textbox', { name: 'Message', exact: true }).waitFor({ timeout: T });
    // Dark, as the system asks: still WCAG AA.
    await customer.emulateMedia({ colorScheme: 'dark' });
    assert.equal(await customer.locator('.sp-chat').evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(22, 27, 34)');
    assert.deepEqual(await accessibilityProblems(customer, '.sp-chat'), []);
    await customer.emulateMedia({ colorScheme: 'light' });
    await customer.getByRole('button', { name: 'ES', exact: true }).click();
    await customer.getByRole('heading', { name: 'Chat de Soporte' }).waitFor({ timeout: T });
  });

  test('the customer uploads a PNG and a PDF with progress and both sides see the preview', async () => {
    await customer.evaluate(() => {
      window.__progress = [];
      new MutationObserver(() => {
        for (const p of document.querySelectorAll('progress')) window.__progress.push(Number(p.value));
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    // Upload at ~2 MB/s so that progress is visible even over loopback.
    const cdp = await customer.context().newCDPSession(customer);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 2_000_000 });
    await customer.getByTestId('file-input').setInputFiles([
      { name: 'captura.png', mimeType: 'image/png', buffer: png() },
      { name: 'factura.pdf', mimeType: 'application/pdf', buffer: pdf() },
    ]);
    for (const p of [customer, agent]) {
      const preview = p.getByAltText('Vista previa de captura.png');
      await preview.waitFor({ timeout: T });
      await assert.doesNotReject(preview.evaluate((img) => (img.complete && img.naturalWidth > 0 ? true : new Promise((ok, ko) => ((img.onload = () => ok(true)), (img.onerror = ko))))));
      assert.ok((await preview.evaluate((img) => img.naturalWidth)) <= 320, 'a thumbnail, not the original');
      await p.getByRole('link', { name: 'Descargar factura.pdf' }).waitFor({ timeout: T });
    }
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    const seen = await customer.evaluate(() => window.__progress);
    assert.ok(seen.length > 0, 'a progress bar was shown');
    assert.ok(seen.some((v) => v > 0 && v < 100), `progress moved: ${seen.join(',')}`);
    assert.ok(seen.includes(100), 'and reached 100%');
    // The download link works for the agent, with the right type.
    const href = await agent.getByRole('link', { name: 'Descargar factura.pdf' }).getAttribute('href');
    const response = await agent.request.get(new URL(href, server.url).href);
    assert.equal(response.status(), 200);
    assert.equal(response.headers()['content-type'], 'application/pdf');
  });

  test('internal notes and canned responses stay with the team', async () => {
    await agent.getByRole('button', { name: 'Nota interna (solo equipo)' }).click();
    assert.equal(await agent.getByRole('textbox', { name: 'Mensaje', exact: true }).getAttribute('placeholder'), 'Nota interna: solo la ve el equipo');
    assert.deepEqual(await accessibilityProblems(agent), []);
    const agentBox = agent.getByRole('textbox', { name: 'Mensaje', exact: true });
    await agentBox.fill('Cliente VIP: revisar la factura');
    await agentBox.press('Enter');
    await messageText(agent, 'Cliente VIP').and(agent.locator('.sp-internal')).waitFor({ timeout: T });
    await agent.getByRole('button', { name: 'Responder al cliente' }).click();

    await agent.getByRole('button', { name: 'Nueva respuesta predefinida' }).click();
    await agent.getByLabel('Atajo', { exact: true }).fill('revisar');
    await agent.getByLabel('Texto', { exact: true }).fill('Estoy revisando tu factura, dame un momento.');
    await agent.getByRole('button', { name: 'Guardar' }).click();
    const canned = agent.getByLabel('Respuestas predefinidas');
    const option = canned.locator('option', { hasText: '/revisar' });
    await option.waitFor({ state: 'attached', timeout: T });
    // Typing "/rev" offers it; Enter puts its text in the composer.
    await agentBox.fill('/rev');
    await agent.getByRole('listbox', { name: 'Respuestas predefinidas' }).getByRole('option', { name: /\/revisar/ }).waitFor({ timeout: T });
    await agentBox.press('Enter');
    assert.equal(await agentBox.inputValue(), 'Estoy revisando tu factura, dame un momento.');
    await agentBox.fill('');
    await canned.selectOption(await option.getAttribute('value'));
    assert.equal(await agentBox.inputValue(), 'Estoy revisando tu factura, dame un momento.');
    await agentBox.press('Enter');
    await messageText(customer, 'Estoy revisando tu factura').waitFor({ timeout: T });
    assert.equal(await messageText(customer, 'Cliente VIP').count(), 0, 'the customer never sees a note');

    mkdirSync(SHOTS, { recursive: true });
    await customer.screenshot({ path: resolve(SHOTS, 'cliente.png') });
    await agent.screenshot({ path: resolve(SHOTS, 'agente.png') });
  });

  test('an edit, a deletion and a reply show on the customer page live and after a reload', async () => {
    const box = customer.getByRole('textbox', { name: 'Mensaje', exact: true });
    await box.fill('Mi número de pedido es 4411');
    await box.press('Enter');
    await messageText(agent, 'Mi número de pedido es 4411').waitFor({ timeout: T });

    // The customer corrects it in place; the agent sees the new text, marked edited.
    const mine = messageText(customer, 'Mi número de pedido es 4411');
    await mine.hover();
    await mine.getByRole('button', { name: 'Editar' }).click();
    const editor = customer.getByRole('textbox', { name: 'Editar mensaje' });
    await editor.fill('Mi número de pedido es 4412');
    await editor.press('Enter');
    const corrected = messageText(agent, 'Mi número de pedido es 4412');
    await corrected.getByText('(editado)').waitFor({ timeout: T });
    assert.equal(await messageText(agent, '4411').count(), 0);

    // The agent answers it, quoted, and deletes a message sent by mistake.
    await corrected.hover();
    await corrected.getByRole('button', { name: 'Responder', exact: true }).click();
    await agent.getByTestId('replying').getByText('Mi número de pedido es 4412').waitFor({ timeout: T });
    const agentBox = agent.getByRole('textbox', { name: 'Mensaje', exact: true });
    await agentBox.fill('Gracias, lo reviso');
    await agentBox.press('Enter');
    await agentBox.fill('Enlace equivocado: http://ejemplo.invalid');
    await agentBox.press('Enter');
    const wrong = messageText(agent, 'Enlace equivocado');
    await wrong.and(agent.locator('[data-estado=ENTREGADO], [data-estado=LEIDO]')).waitFor({ timeout: T });
    await messageText(customer, 'Enlace equivocado').waitFor({ timeout: T });
    await wrong.hover();
    await wrong.getByRole('button', { name: 'Eliminar' }).click();
    await agent.getByRole('button', { name: 'Sí, eliminar' }).click();

    const check = async () => {
      await customer.getByTestId('message-deleted').first().waitFor({ timeout: T });
      assert.equal(await messageText(customer, 'Enlace equivocado').count(), 0);
      await messageText(customer, 'Mi número de pedido es 4412').getByText('(editado)').waitFor({ timeout: T });
      const reply = messageText(customer, 'Gracias, lo reviso');
      await reply.locator('.sp-quote', { hasText: 'Mi número de pedido es 4412' }).waitFor({ timeout: T });
    };
    await check();
    assert.deepEqual(await accessibilityProblems(customer), []);
    await customer.reload();
    await customer.locator('.sp-chat [data-status=connected]').waitFor({ timeout: T });
    await check();

    // Away while the agent corrects himself: the customer learns it on return.
    const ticketUrl = customer.url();
    await customer.goto('about:blank');
    const said = messageText(agent, 'Gracias, lo reviso');
    await said.hover();
    await said.getByRole('button', { name: 'Editar' }).click();
    await agent.getByRole('textbox', { name: 'Editar mensaje' }).fill('Gracias, lo reviso ahora mismo');
    await agent.getByRole('textbox', { name: 'Editar mensaje' }).press('Enter');
    await messageText(agent, 'lo reviso ahora mismo').waitFor({ timeout: T });
    await customer.goto(ticketUrl);
    await messageText(customer, 'Gracias, lo reviso ahora mismo').getByText('(editado)').waitFor({ timeout: T });
    assert.deepEqual(await accessibilityProblems(agent), []);
  });

  test('a message typed while the server is down is delivered exactly once after it restarts', async () => {
    await stopServer(server);
    await customer.locator('.sp-chat [data-status=reconnecting], .sp-chat [data-status=disconnected]').first().waitFor({ timeout: T });
    const box = customer.getByRole('textbox', { name: 'Mensaje', exact: true });
    await box.fill('Escrito con el servidor caído');
    await box.press('Enter');
    const pending = messageText(customer, 'Escrito con el servidor caído');
    await pending.and(customer.locator('[data-estado=ENVIANDO]')).waitFor({ timeout: T });

    server = await startServer(tmp.dir, server.bind, server.extra);
    await pending.and(customer.locator('[data-estado=ENTREGADO], [data-estado=LEIDO]')).waitFor({ timeout: 45000 });
    await messageText(agent, 'Escrito con el servidor caído').waitFor({ timeout: 45000 });
    // Nothing lost, nothing twice, on either side; the server agrees.
    await agent.waitForTimeout(1000);
    for (const p of [customer, agent]) {
      assert.equal(await messageText(p, 'Escrito con el servidor caído').count(), 1);
      assert.equal(await messageText(p, 'Hola, no puedo entrar desde ayer').count(), 1);
      assert.equal(await messageText(p, 'Hola Ana, ¿qué error ves?').count(), 1);
    }
    const ticketId = Number(new URL(customer.url()).searchParams.get('ticket'));
    const history = await (await fetch(`${server.url}/api/soporte/tickets/${ticketId}/chat/historial/?size=100`, { headers: { Authorization: `Bearer ${tokens.customer}` } })).json();
    assert.equal(history.results.filter((m) => m.contenido === 'Escrito con el servidor caído').length, 1);
  });

  test('the agent transfers the conversation and everyone sees it', async () => {
    // María opens her console: the server now knows her as an agent.
    await maria.goto(`${server.url}/agente/#token=${tokens.maria}`);
    await maria.locator('[data-status=connected]').waitFor({ timeout: T });
    const select = agent.getByLabel('Transferir a');
    await select.locator('option', { hasText: 'María Agente' }).waitFor({ state: 'attached', timeout: T });
    await select.selectOption({ label: 'María Agente (en línea)' });
    await agent.getByLabel('Motivo de la transferencia').fill('Es un tema de facturación');
    await agent.getByRole('button', { name: 'Transferir' }).click();

    const text = 'Chat transferido de Carlos Agente a María Agente. Motivo: Es un tema de facturación';
    await messageText(customer, text).waitFor({ timeout: T });
    await agent.getByText(/ya no está en tu bandeja/).waitFor({ timeout: T });
    const mine = maria.getByTestId('mine').getByRole('button', { name: /No puedo acceder/ });
    await mine.waitFor({ timeout: T });
    await mine.click();
    await messageText(maria, text).waitFor({ timeout: T });
    await messageText(maria, 'Escrito con el servidor caído').waitFor({ timeout: T });
    // The supervisor sees the ticket with its new agent.
    const sofia = await page(await browser.newContext({ viewport: { width: 1200, height: 760 } }), errors);
    await sofia.goto(`${server.url}/agente/#token=${mintToken(3001, 'Sofía Supervisora', 'SUPERVISOR')}`);
    await sofia.getByTestId('mine').getByRole('button', { name: /No puedo acceder.*María Agente/s }).waitFor({ timeout: T });
    await sofia.close();
    await maria.getByRole('textbox', { name: 'Mensaje', exact: true }).fill('Hola Ana, soy María, de facturación');
    await maria.getByRole('textbox', { name: 'Mensaje', exact: true }).press('Enter');
    await messageText(customer, 'soy María, de facturación').waitFor({ timeout: T });
  });

  test('after the agent resolves, the customer rates 4 with a comment, the team sees it, and the customer ends the chat', async () => {
    await maria.getByRole('button', { name: 'Resolver' }).click();
    const prompt = customer.getByTestId('csat');
    await prompt.waitFor({ timeout: T });
    assert.deepEqual(await accessibilityProblems(customer, '[data-testid=csat]'), []);
    await prompt.getByLabel('4: Satisfecho').check();
    await prompt.getByLabel('Comentario (opcional)').fill('María lo resolvió rápido');
    await prompt.getByRole('button', { name: 'Enviar valoración' }).click();
    const thanks = customer.getByText('¡Gracias por tu valoración! (4/5)');
    await thanks.waitFor({ timeout: T });
    // The team reads it in the conversation (a note) and in the stats.
    await messageText(maria, 'El cliente valoró la atención con 4/5').waitFor({ timeout: T });
    assert.equal(await messageText(customer, 'El cliente valoró').count(), 0, 'the note is the team’s');
    const supervisor = mintToken(3001, 'Sofía Supervisora', 'SUPERVISOR');
    const stats = await (await fetch(`${server.url}/api/soporte/stats/`, { headers: { Authorization: `Bearer ${supervisor}` } })).json();
    assert.equal(stats.csat.n, 1);
    assert.equal(stats.csat.media, 4);
    // Answered for good: after a reload the form does not come back.
    await customer.reload();
    await thanks.waitFor({ timeout: T });
    assert.equal(await customer.getByTestId('csat').count(), 0);
    // The customer ends the conversation, after confirming.
    await customer.getByRole('button', { name: 'Cerrar conversación' }).click();
    await customer.getByRole('button', { name: 'Sí, cerrar' }).click();
    await customer.getByText('Este ticket está cerrado: ya no admite mensajes.').waitFor({ timeout: T });
    assert.deepEqual(await accessibilityProblems(customer), []);
    await messageText(maria, 'Ana Cliente cerró el ticket.').waitFor({ timeout: T });

    // The customer asks for the conversation by email, at an address they give.
    await customer.getByRole('button', { name: 'Enviarme la conversación por correo' }).click();
    await customer.getByLabel('Tu correo para recibir la conversación').fill('ana@example.com');
    assert.deepEqual(await accessibilityProblems(customer, '[data-testid=email-transcript]'), []);
    await customer.getByRole('button', { name: 'Enviar', exact: true }).click();
    await customer.getByText('Te enviamos la conversación a ana@example.com.').waitFor({ timeout: T });
    const [transcript] = await smtp.waitFor(1);
    assert.deepEqual(transcript.to, ['ana@example.com']);
    assert.match(transcript.subject, /^Transcripción de tu ticket #\d+: No puedo acceder a mi cuenta$/);
    assert.match(transcript.text, /Hola Ana, soy María, de facturación/);
    assert.doesNotMatch(transcript.text, /El cliente valoró/, 'notes stay the team’s');
  });

  test('outside business hours the widget says when the team is back and still takes messages', async () => {
    // Closed all week, open tomorrow (UTC) from 09:00: closed now, whenever this runs.
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const supervisor = mintToken(3001, 'Sofía Supervisora', 'SUPERVISOR');
    const hours = { zona: 'UTC', semana: {}, excepciones: [{ fecha: tomorrow, tramos: [{ desde: '09:00', hasta: '17:00' }] }] };
    const put = await fetch(`${server.url}/api/soporte/horario/`, { method: 'PUT', headers: { Authorization: `Bearer ${supervisor}`, 'Content-Type': 'application/json' }, body: JSON.stringify(hours) });
    assert.equal(put.status, 200);
    await customer.getByLabel('Abrir un ticket nuevo').fill('Pregunta fuera de horario');
    await customer.getByRole('button', { name: 'Abrir ticket' }).click();
    const banner = customer.getByTestId('availability');
    await banner.waitFor({ timeout: T });
    assert.match(await banner.textContent(), /^Ahora estamos fuera de horario: volvemos (hoy|mañana) a las \d{1,2}:00\. Déjanos tu mensaje y te responderemos\.$/);
    const box = customer.getByRole('textbox', { name: 'Mensaje', exact: true });
    await box.fill('¿Me respondéis mañana?');
    await box.press('Enter');
    await messageText(customer, '¿Me respondéis mañana?').and(customer.locator('[data-estado=ENTREGADO]')).waitFor({ timeout: T });
    assert.deepEqual(await accessibilityProblems(customer), []);
    // Ana gave an address already: nobody asks her again.
    assert.equal(await customer.getByTestId('email-away').count(), 0);

    // A customer without an address is asked where to be told of the answer.
    const luis = await page(await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'es-ES' }), errors);
    await luis.goto(`${server.url}/#token=${mintToken(1002, 'Luis Cliente', 'CLIENTE')}`);
    await luis.getByLabel('Abrir un ticket nuevo').fill('Otra pregunta de noche');
    await luis.getByRole('button', { name: 'Abrir ticket' }).click();
    const away = luis.getByTestId('email-away');
    await away.waitFor({ timeout: T });
    await away.getByLabel('Déjanos tu correo y te avisaremos cuando respondamos').fill('luis@example.com');
    assert.deepEqual(await accessibilityProblems(luis), []);
    await away.getByRole('button', { name: 'Avisarme' }).click();
    await luis.getByText('Te avisaremos en luis@example.com si no estás aquí cuando respondamos.').waitFor({ timeout: T });
    const me = await (await fetch(`${server.url}/api/soporte/yo/`, { headers: { Authorization: `Bearer ${mintToken(1002, 'Luis Cliente', 'CLIENTE')}` } })).json();
    assert.equal(me.email, 'luis@example.com');
    await luis.close();

    // The agent closes it from the console, asked to confirm first.
    const queued = maria.getByTestId('queue').getByRole('button', { name: /Pregunta fuera de horario/ });
    await queued.waitFor({ timeout: T });
    await queued.click();
    await maria.getByTestId('peek').getByRole('button', { name: 'Asignarme' }).click();
    await messageText(maria.getByTestId('chat'), '¿Me respondéis mañana?').waitFor({ timeout: T });
    await maria.getByRole('button', { name: 'Cerrar…' }).click();
    await maria.getByRole('button', { name: 'Cancelar' }).click();
    await maria.getByRole('button', { name: 'Cerrar…' }).click();
    await maria.getByRole('button', { name: 'Sí, cerrar' }).click();
    await customer.getByText('Este ticket está cerrado: ya no admite mensajes.').waitFor({ timeout: T });
  });

  test('Ctrl+K finds a message by words without accents and opens its ticket there', async () => {
    await maria.keyboard.press('Control+k');
    const box = maria.getByRole('combobox', { name: 'Buscar en las conversaciones (Ctrl+K)' });
    assert.equal(await box.evaluate((el) => el === document.activeElement), true);
    await box.fill('facturacion');
    const results = maria.getByTestId('search-results');
    await results.getByRole('option', { name: /Hola Ana, soy María, de facturación/ }).waitFor({ timeout: T });
    // The matching word is marked, as text.
    assert.equal(await results.locator('mark').first().textContent(), 'facturación');
    assert.deepEqual(await accessibilityProblems(maria, '[role=search]'), []);
    await box.press('Enter');
    await maria.locator('.sp-found', { hasText: 'Hola Ana, soy María, de facturación' }).waitFor({ timeout: T });
  });

  test('keyboard shortcuts move between conversations, focus the composer, switch to notes and are listed behind ?', async () => {
    await maria.evaluate(() => document.activeElement?.blur());
    await maria.keyboard.press('?');
    const help = maria.getByRole('dialog', { name: 'Atajos de teclado' });
    await help.waitFor({ timeout: T });
    assert.deepEqual(await accessibilityProblems(maria, '[data-testid=shortcuts]'), []);
    await maria.keyboard.press('Escape');
    await help.waitFor({ state: 'detached', timeout: T });

    // Closed conversations listed too, so there is somewhere to move.
    await maria.getByLabel('Mostrar cerrados').check();
    await maria.evaluate(() => document.activeElement?.blur());
    const current = () => maria.locator('[data-testid^=conversation-][aria-current=true]').getAttribute('data-testid');
    const before = await current();
    await maria.keyboard.press('Alt+ArrowDown');
    await maria.waitForFunction((was) => document.querySelector('[data-testid^=conversation-][aria-current=true]')?.getAttribute('data-testid') !== was, before, { timeout: T });
    await maria.keyboard.press('Alt+ArrowUp');
    await maria.waitForFunction((was) => document.querySelector('[data-testid^=conversation-][aria-current=true]')?.getAttribute('data-testid') === was, before, { timeout: T });
    assert.equal(await current(), before);

    // An open conversation: Alt+R writes in it, Alt+N switches to a note and back.
    const opened = await fetch(`${server.url}/api/soporte/tickets/`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tokens.customer}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ asunto: 'Atajos de teclado' }),
    });
    assert.equal(opened.status, 201);
    await maria.getByTestId('queue').getByRole('button', { name: /Atajos de teclado/ }).click();
    await maria.getByTestId('peek').getByRole('button', { name: 'Asignarme' }).click();
    const composer = maria.getByTestId('chat').getByRole('textbox', { name: 'Mensaje', exact: true });
    await composer.waitFor({ timeout: T });
    await maria.evaluate(() => document.activeElement?.blur());
    await maria.keyboard.press('Alt+r');
    assert.equal(await composer.evaluate((el) => el === document.activeElement), true);
    const note = maria.getByRole('button', { name: 'Nota interna (solo equipo)' });
    assert.equal(await note.getAttribute('aria-pressed'), 'false');
    await maria.keyboard.press('Alt+n');
    assert.equal(await note.getAttribute('aria-pressed'), 'true');
    await maria.keyboard.press('Alt+n');
    assert.equal(await note.getAttribute('aria-pressed'), 'false');

    // Beside it, the context: Ana's other tickets, and from one of them its files and people.
    const context = maria.getByTestId('context');
    await context.getByRole('button', { name: /No puedo acceder a mi cuenta/ }).click();
    await context.getByRole('link', { name: 'factura.pdf' }).waitFor({ timeout: T });
    await context.getByRole('link', { name: 'captura.png' }).waitFor({ timeout: T });
    await context.getByText('Ana Cliente (cliente)').waitFor({ timeout: T });
    assert.deepEqual(await accessibilityProblems(maria, '[data-testid=context]'), []);
  });

  test('the supervisor dashboard renders its charts with data', async () => {
    const sofia = await page(await browser.newContext({ viewport: { width: 1200, height: 900 }, locale: 'es-ES' }), errors);
    await sofia.goto(`${server.url}/agente/#token=${mintToken(3001, 'Sofía Supervisora', 'SUPERVISOR')}`);
    // The inbox's total counts what its lists show, not hidden closed tickets.
    await sofia.getByTestId('mine').getByRole('button').first().waitFor({ timeout: T });
    const shownUnread = (await sofia.locator('[data-testid=mine] [data-testid=unread], [data-testid=queue] [data-testid=unread]').allTextContents()).reduce((n, t) => n + Number(t), 0);
    const total = sofia.getByTestId('total-unread');
    assert.equal((await total.count()) ? Number(await total.textContent()) : 0, shownUnread);
    // Filters: only closed tickets, only María's.
    await sofia.getByTestId('filter-state').selectOption('CERRADO');
    await sofia.getByTestId('filter-agent').selectOption({ label: 'María Agente' });
    const rows = sofia.getByTestId('mine').getByRole('button');
    await rows.first().waitFor({ timeout: T });
    for (const text of await rows.allTextContents()) assert.match(text, /María Agente.*Cerrado/s, text);
    assert.equal(await sofia.getByTestId('queue').getByRole('button').count(), 0);
    await sofia.getByTestId('filter-state').selectOption('');
    await sofia.getByTestId('filter-agent').selectOption('');
    await sofia.getByRole('button', { name: 'Panel de supervisión' }).click();
    const dashboard = sofia.getByTestId('dashboard');
    // Ana's 4 from the rating test.
    await dashboard.getByTestId('kpi-csat').filter({ hasText: '4.0' }).waitFor({ timeout: T });
    const firstResponses = dashboard.getByRole('row', { name: /Primera respuesta/ });
    assert.match(await firstResponses.textContent(), /^Primera respuesta[1-9]/);
    for (const chart of ['chart-times', 'chart-agents', 'chart-csat']) {
      // Painted: the canvas has pixels that are not transparent.
      await dashboard.getByTestId(chart).evaluate(
        (canvas) =>
          new Promise((done, fail) => {
            const started = Date.now();
            const check = () => {
              const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
              let painted = 0;
              for (let i = 3; i < data.length; i += 4) if (data[i]) painted++;
              if (painted > 200) done(painted);
              else if (Date.now() - started > 10000) fail(new Error(`only ${painted} pixels painted`));
              else requestAnimationFrame(check);
            };
            check();
          }),
      );
    }
    assert.deepEqual(await accessibilityProblems(sofia, '[data-testid=dashboard]'), []);
    await sofia.screenshot({ path: resolve(SHOTS, 'dashboard.png') });
    await sofia.close();
  });

  test('no page error and no CSP violation happened', () => {
    assert.deepEqual(errors, []);
  });
});
