// The built package (npm run build:lib) imports as plain ES modules with React
// from the host, and its components render in another React tree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';

test('the built package exports the client, the hook and the components', async () => {
  const web = await import('../dist/index.js');
  for (const name of ['SoporteChatWebSocket', 'ChatSync', 'ChatCache', 'InboxClient', 'useChatSoporte', 'useAgentInbox', 'ChatSoporte', 'MessageList', 'Message', 'MessageInput', 'ConnectionStatus', 'I18nProvider']) {
    assert.equal(typeof web[name], 'function', name);
  }
  const client = await import('../dist/client/index.js');
  assert.equal(typeof client.SoporteChatWebSocket, 'function');
});

test('a host app renders the chat widget from the built package, in Spanish and English', async () => {
  const { ChatSoporte, Message } = await import('../dist/index.js');
  const html = renderToString(createElement(ChatSoporte, { ticketId: 5, token: 'x', baseUrl: 'http://chat.test', cache: null, storage: null }));
  assert.match(html, /Chat de Soporte/);
  assert.match(html, /Ticket #5/);
  const message = { id: 1, client_id: 'a', seq: 1, timestamp: '2026-11-27T10:00:00.000Z', autor: { id: 2, nombre: 'Carlos', tipo: 'AGENTE', avatar: null }, contenido: '<script>alert(1)</script>', tipo: 'TEXTO', estado: 'ENTREGADO', archivos: [] };
  const rendered = renderToString(createElement(Message, { message }));
  assert.ok(!rendered.includes('<script>'), 'text is escaped');
  const en = renderToString(createElement(ChatSoporte, { ticketId: 5, token: 'x', baseUrl: 'http://chat.test', cache: null, storage: null, locale: 'en' }));
  assert.match(en, /Support chat/);
});
