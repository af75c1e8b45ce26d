#!/usr/bin/env node
// Seed conformance: the seed's own `SoporteChatWebSocket` and `ChatSync`
// classes, copied verbatim out of docs/seed/guia-chat-soporte.md at run time,
// driven against a real `soporte serve`.
//
// Nothing in the classes' bodies is changed. The only things supplied from
// outside are the globals they use (WebSocket from `ws`, an in-memory
// localStorage, Node's fetch, console) and the two methods the class calls but
// never defines: `processMessageQueue` and `handleHeartbeat`.
//
// Env: SOPORTE_BIN (default <repo>/target/debug/soporte), SEED_JS_VERBOSE=1 to
// echo the seed's console output and the server's log.

import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const GUIDE = path.join(REPO, 'docs', 'seed', 'guia-chat-soporte.md');
const BIN = process.env.SOPORTE_BIN || path.join(REPO, 'target', 'debug', 'soporte');
const VERBOSE = !!process.env.SEED_JS_VERBOSE;
const GLOBAL_TIMEOUT_MS = 60_000;
const STARTUP_TIMEOUT_MS = 30_000;
const STEP_TIMEOUT_MS = 5_000;

// ---------------------------------------------------------------- reporting

let passed = 0;
let failed = 0;
let finished = false;
let server = null; // { child, url }
let serverChild = null; // kept for the exit hook
let tmp = null;
const seedLog = [];
let serverLog = '';

function diag(line) {
  console.log(`# ${line}`);
}

async function check(name, fn) {
  if (finished) return;
  const logStart = seedLog.length;
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (error) {
    failed++;
    const reason = String(error && error.message ? error.message : error).replace(/\s+/g, ' ');
    console.log(`not ok - ${name}: ${reason}`);
    for (const line of seedLog.slice(logStart).slice(-12)) diag(`seed: ${line}`);
  }
}

function finish(extraFailure) {
  if (finished) return;
  if (extraFailure) {
    failed++;
    console.log(`not ok - ${extraFailure}`);
  }
  finished = true;
  if (failed > 0 && serverLog.trim()) {
    diag('last lines of the server log:');
    for (const line of serverLog.trimEnd().split('\n').slice(-25)) diag(`  ${line}`);
  }
  console.log(`${passed} passed, ${failed} failed`);
  stopServer().finally(() => {
    if (tmp) {
      try { rmSync(tmp, { recursive: true, force: true }); } catch { /* best effort */ }
    }
    process.exit(failed > 0 ? 1 : 0);
  });
}

setTimeout(() => finish(`global timeout: the run took longer than ${GLOBAL_TIMEOUT_MS / 1000} s`), GLOBAL_TIMEOUT_MS).unref();
process.on('uncaughtException', (e) => finish(`crash: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`));
process.on('unhandledRejection', (e) => finish(`crash (unhandled rejection): ${e && e.message ? e.message : e}`));
process.on('exit', () => {
  if (serverChild && serverChild.exitCode === null && serverChild.signalCode === null) serverChild.kill('SIGKILL');
});

// ---------------------------------------------------------------- helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

const show = (v) => {
  const s = JSON.stringify(v);
  return s && s.length > 300 ? `${s.slice(0, 300)}…` : s;
};

async function waitFor(what, predicate, ms = STEP_TIMEOUT_MS) {
  const start = Date.now();
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

function need(value, what) {
  if (value === undefined || value === null) throw new Error(`cannot run: ${what} missing (an earlier check failed)`);
  return value;
}

// ---------------------------------------------------------------- the seed, verbatim

/** The text of `class NAME { ... }`: from its `class NAME` line to the brace that closes it. */
function extractClass(markdown, name) {
  const lines = markdown.split(/\r?\n/);
  const start = lines.findIndex((l) => new RegExp(`^class ${name}\\b`).test(l));
  if (start < 0) throw new Error(`class ${name} not found in ${GUIDE}`);
  let depth = 0;
  let opened = false;
  for (let i = start; i < lines.length; i++) {
    for (const ch of lines[i]) {
      if (ch === '{') { depth++; opened = true; } else if (ch === '}') depth--;
    }
    if (opened && depth === 0) {
      if (lines[i] !== '}') throw new Error(`class ${name}: braces close at line ${i + 1}, which is not a lone "}"`);
      return lines.slice(start, i + 1).join('\n');
    }
  }
  throw new Error(`class ${name}: no closing brace`);
}

const storage = new Map();
const localStorageShim = {
  getItem: (k) => (storage.has(String(k)) ? storage.get(String(k)) : null),
  setItem: (k, v) => { storage.set(String(k), String(v)); },
  removeItem: (k) => { storage.delete(String(k)); },
  clear: () => storage.clear(),
};

const fmt = (args) => args.map((a) => {
  if (typeof a === 'string') return a;
  if (a instanceof Error) return a.message;
  if (a && typeof a === 'object' && 'message' in a && 'type' in a) return `[${a.type}] ${a.message}`; // ws ErrorEvent
  try { return JSON.stringify(a); } catch { return String(a); }
}).join(' ');

function seedConsoleLine(level, args) {
  const line = `${level} ${fmt(args)}`;
  seedLog.push(line);
  if (VERBOSE) process.stderr.write(`# seed: ${line}\n`);
}

const seedConsole = {
  log: (...a) => seedConsoleLine('log', a),
  info: (...a) => seedConsoleLine('info', a),
  warn: (...a) => seedConsoleLine('warn', a),
  error: (...a) => seedConsoleLine('error', a),
  debug: (...a) => seedConsoleLine('debug', a),
};

function loadSeed() {
  const markdown = readFileSync(GUIDE, 'utf8');
  const source = `${extractClass(markdown, 'SoporteChatWebSocket')}\n\n${extractClass(markdown, 'ChatSync')}\n`;
  // The parameters are the only globals the classes see besides the language's
  // own (setTimeout, Date, Map, JSON, ...).
  const factory = new Function(
    'WebSocket', 'localStorage', 'fetch', 'console',
    `${source}\nreturn { SoporteChatWebSocket, ChatSync };`,
  );
  const seed = factory(WebSocket, localStorageShim, globalThis.fetch, seedConsole);

  // The two methods the class calls but never defines (seed-defects D1, D2).
  seed.SoporteChatWebSocket.prototype.processMessageQueue = function processMessageQueue() {
    const queued = this.messageQueue;
    this.messageQueue = [];
    for (const item of queued) this.socket.send(JSON.stringify(item));
  };
  seed.SoporteChatWebSocket.prototype.handleHeartbeat = function handleHeartbeat(data) {
    this.emit('heartbeat', data);
  };
  return seed;
}

const EVENTS = [
  'connected', 'disconnected', 'error', 'connectionEstablished', 'messageReceived',
  'messageConfirmed', 'messageQueued', 'userTyping', 'userStoppedTyping', 'fileUploaded',
  'chatTransferred', 'agentJoined', 'agentLeft', 'heartbeat', 'reconnecting', 'reconnectionFailed',
];

/** Records every event of `chat` into arrays (instead of the seed's waitForEvent: D7). */
function track(chat) {
  const log = { raw: [] };
  for (const event of EVENTS) {
    log[event] = [];
    chat.on(event, (data) => log[event].push(data));
  }
  return log;
}

/**
 * Calls the seed's `connect()` and taps the new socket's raw frames (for
 * frames `handleMessage` does not know, like `mensajes_leidos`).
 */
async function connect(chat, log, ticketId, token) {
  const pending = chat.connect(ticketId, token);
  const socket = chat.socket;
  if (socket && typeof socket.on === 'function') {
    socket.on('message', (data) => {
      try { log.raw.push(JSON.parse(String(data))); } catch { log.raw.push({ unparsable: String(data) }); }
    });
  }
  return withTimeout(pending, STEP_TIMEOUT_MS, 'connect() to resolve');
}

// ---------------------------------------------------------------- the server

function serverEnv(secret) {
  return { ...process.env, SOPORTE_JWT_SECRET: secret, SOPORTE_MSG_RATE: '0' };
}

function startServer(env) {
  return new Promise((resolve, reject) => {
    const args = [
      'serve', '--bind', '127.0.0.1:0',
      '--database-url', `sqlite://${tmp}/soporte.db`,
      '--storage', `${tmp}/files`,
    ];
    const child = spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    server = { child, url: null };
    serverChild = child;
    let stdout = '';
    const timer = setTimeout(
      () => reject(new Error(`the server printed no "listening on http://HOST:PORT" within ${STARTUP_TIMEOUT_MS / 1000} s`)),
      STARTUP_TIMEOUT_MS,
    );
    const keep = (chunk) => {
      serverLog += chunk;
      if (serverLog.length > 200_000) serverLog = serverLog.slice(-100_000);
      if (VERBOSE) process.stderr.write(String(chunk).replace(/^/gm, '# server: '));
    };
    child.stdout.on('data', (chunk) => {
      keep(chunk);
      if (server.url) return;
      stdout += chunk;
      const m = stdout.match(/listening on (http:\/\/[^\s]+)/);
      if (m) {
        clearTimeout(timer);
        server.url = m[1].replace(/\/+$/, '');
        resolve(server);
      }
    });
    child.stderr.on('data', keep);
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot start ${BIN}: ${e.message}`)); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!server.url) {
        reject(new Error(`the server exited before listening (code ${code}, signal ${signal}): ${serverLog.trim().split('\n').slice(-3).join(' | ')}`));
      } else if (!finished) {
        diag(`the server exited (code ${code}, signal ${signal})`);
      }
    });
  });
}

/** SIGTERM, then SIGKILL if the server is still there after 3 s. */
function stopServer() {
  if (!server) return Promise.resolve();
  const { child } = server;
  server = null;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => { child.kill('SIGKILL'); resolve(); }, 3000);
    child.once('exit', () => { clearTimeout(force); resolve(); });
    child.kill('SIGTERM');
  });
}

function mintToken(env, sub, name, role) {
  return new Promise((resolve, reject) => {
    execFile(BIN, ['token', '--sub', String(sub), '--name', name, '--role', role], { env, timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`soporte token --sub ${sub} failed: ${String(stderr || err.message).trim()}`));
      const lines = String(stdout).trim().split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
      const token = lines[lines.length - 1];
      if (!token || token.split('.').length !== 3) return reject(new Error(`soporte token printed no JWT: ${show(stdout)}`));
      resolve(token);
    });
  });
}

// ---------------------------------------------------------------- the scenarios

async function main() {
  tmp = mkdtempSync(path.join(tmpdir(), 'soporte-seed-js-'));
  const secret = randomBytes(36).toString('base64url'); // 48 characters
  const env = serverEnv(secret);

  let seed;
  const tokens = {};
  let setupError = null;
  try {
    seed = loadSeed();
    await startServer(env);
    tokens.cliente = await mintToken(env, 101, 'Ana Cliente', 'CLIENTE');
    tokens.agente = await mintToken(env, 201, 'María Agente', 'AGENTE');
    tokens.intruso = await mintToken(env, 102, 'Otro Cliente', 'CLIENTE');
  } catch (e) {
    setupError = e;
  }
  await check('setup: seed classes extracted, server started, tokens minted', async () => {
    if (setupError) throw setupError;
  });
  if (setupError) return finish();

  const { SoporteChatWebSocket, ChatSync } = seed;
  const wsBase = server.url.replace(/^http/, 'ws');
  const apiBase = `${server.url}/api`;
  const sync = new ChatSync(apiBase);

  let ticketId = null;
  let customer = null;
  let cLog = null;
  let agent = null;
  let aLog = null;
  const ids = {}; // message ids: hola, respuesta, encolado, sincronizado

  // 1
  await check('1. a customer creates a ticket (POST /api/soporte/tickets/ -> 201 with integer id)', async () => {
    const res = await fetch(`${apiBase}/soporte/tickets/`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tokens.cliente}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ asunto: 'No puedo acceder a mi cuenta' }),
    });
    const text = await res.text();
    assert(res.status === 201, `expected 201, got ${res.status}: ${text.slice(0, 200)}`);
    const body = JSON.parse(text);
    assert(Number.isInteger(body.id), `expected an integer id, got ${show(body)}`);
    ticketId = body.id;
  });

  // 2
  await check('2. the customer connects with the seed class (connected, connectionEstablished)', async () => {
    need(ticketId, 'ticket');
    customer = new SoporteChatWebSocket({ baseUrl: wsBase });
    cLog = track(customer);
    await connect(customer, cLog, ticketId, tokens.cliente);
    await waitFor('the connected event', () => cLog.connected.length === 1);
    const ce = await waitFor('connectionEstablished', () => cLog.connectionEstablished[0]);
    assert(ce.usuario && typeof ce.usuario === 'object', `usuario missing: ${show(ce)}`);
    assert(ce.usuario.id === 101, `usuario.id should be 101, got ${show(ce.usuario)}`);
    assert(ce.ticket && ce.ticket.id === ticketId, `ticket.id should be ${ticketId}, got ${show(ce.ticket)}`);
    assert(Array.isArray(ce.participants), `participants should be an array, got ${show(ce.participants)}`);
    assert(Array.isArray(ce.historial_reciente), `historial_reciente should be an array, got ${show(ce.historial_reciente)}`);
  });

  // 3
  await check('3. an agent connects to the ticket; the customer receives agentJoined', async () => {
    need(cLog, 'customer connection');
    agent = new SoporteChatWebSocket({ baseUrl: wsBase });
    aLog = track(agent);
    await connect(agent, aLog, ticketId, tokens.agente);
    await waitFor('the agent\'s connectionEstablished', () => aLog.connectionEstablished[0]);
    const joined = await waitFor('agentJoined on the customer', () => cLog.agentJoined.find((d) => d && d.usuario && d.usuario.id === 201));
    const u = joined.usuario;
    assert(typeof u.nombre === 'string' && u.nombre.length > 0, `usuario.nombre missing: ${show(joined)}`);
    assert(u.tipo === 'AGENTE', `usuario.tipo should be AGENTE: ${show(joined)}`);
    assert(typeof joined.timestamp === 'string' && !Number.isNaN(Date.parse(joined.timestamp)), `timestamp missing: ${show(joined)}`);
  });

  // 4
  await check('4. customer sendMessage: messageConfirmed to the sender, messageReceived to the agent', async () => {
    need(aLog, 'agent connection');
    const clientId = customer.sendMessage('Hola');
    const conf = await waitFor('messageConfirmed', () => cLog.messageConfirmed.find((d) => d.client_id === clientId));
    assert(Number.isInteger(conf.mensaje_id), `mensaje_id should be an integer: ${show(conf)}`);
    assert(Number.isInteger(conf.seq), `seq should be an integer: ${show(conf)}`);
    assert(typeof conf.timestamp === 'string' && !Number.isNaN(Date.parse(conf.timestamp)), `timestamp: ${show(conf)}`);
    const got = await waitFor('messageReceived on the agent', () => aLog.messageReceived.find((m) => m.id === conf.mensaje_id));
    assert(got.contenido === 'Hola', `contenido: ${show(got)}`);
    assert(got.autor && got.autor.tipo === 'CLIENTE' && got.autor.id === 101, `autor: ${show(got.autor)}`);
    assert(got.client_id === clientId, `client_id should be ${clientId}: ${show(got)}`);
    assert(got.seq === conf.seq, `seq ${got.seq} differs from the confirmation's ${conf.seq}`);
    ids.hola = conf.mensaje_id;
    await sleep(100);
    assert(!cLog.messageReceived.some((m) => m.id === conf.mensaje_id), 'the sender also got its own message as messageReceived');
  });

  // 5
  await check('5. the agent replies; the customer receives it', async () => {
    need(ids.hola, 'first message');
    const text = 'Buenas tardes, ¿en qué puedo ayudarle?';
    const clientId = agent.sendMessage(text);
    const conf = await waitFor('messageConfirmed on the agent', () => aLog.messageConfirmed.find((d) => d.client_id === clientId));
    const got = await waitFor('messageReceived on the customer', () => cLog.messageReceived.find((m) => m.id === conf.mensaje_id));
    assert(got.contenido === text, `contenido: ${show(got)}`);
    assert(got.autor && got.autor.tipo === 'AGENTE' && got.autor.id === 201, `autor: ${show(got.autor)}`);
    assert(got.seq > 0 && conf.seq === got.seq, `seq: confirmation ${conf.seq}, message ${got.seq}`);
    ids.respuesta = conf.mensaje_id;
  });

  // 6
  await check('6. typing: startTyping -> userTyping, stopTyping -> userStoppedTyping on the agent', async () => {
    need(aLog, 'agent connection');
    customer.startTyping();
    const typing = await waitFor('userTyping from 101', () => aLog.userTyping.find((d) => d.usuario && d.usuario.id === 101));
    assert(typeof typing.usuario.nombre === 'string', `usuario: ${show(typing)}`);
    customer.stopTyping();
    await waitFor('userStoppedTyping from 101', () => aLog.userStoppedTyping.find((d) => d.usuario && d.usuario.id === 101));
  });

  // 7
  await check('7. heartbeat: the server answers a heartbeat frame; handleHeartbeat sees it', async () => {
    need(cLog, 'customer connection');
    const before = cLog.heartbeat.length;
    customer.send({ tipo: 'heartbeat', data: { timestamp: new Date().toISOString() } });
    const hb = await waitFor('a heartbeat answer', () => cLog.heartbeat[before]);
    assert(hb && typeof hb.timestamp === 'string' && !Number.isNaN(Date.parse(hb.timestamp)), `heartbeat data: ${show(hb)}`);
  });

  // 8
  await check('8. a message queued before connect() is flushed on connect and confirmed', async () => {
    need(ticketId, 'ticket');
    const queued = new SoporteChatWebSocket({ baseUrl: wsBase });
    const qLog = track(queued);
    const clientId = queued.sendMessage('Escrito antes de conectar');
    assert(queued.messageQueue.length === 1, `messageQueue should hold 1 item, holds ${queued.messageQueue.length}`);
    assert(qLog.messageQueued.length === 1, 'messageQueued was not emitted');
    await connect(queued, qLog, ticketId, tokens.cliente);
    assert(queued.messageQueue.length === 0, 'processMessageQueue left items in the queue');
    const conf = await waitFor('messageConfirmed for the queued message', () => qLog.messageConfirmed.find((d) => d.client_id === clientId));
    assert(Number.isInteger(conf.mensaje_id), `mensaje_id: ${show(conf)}`);
    if (aLog) await waitFor('the agent to receive the queued message', () => aLog.messageReceived.find((m) => m.id === conf.mensaje_id));
    ids.encolado = conf.mensaje_id;
    queued.disconnect();
  });

  // 9
  await check('9. history: historial_reciente and ChatSync.fetchChatHistory, oldest first', async () => {
    need(ids.encolado, 'the messages of checks 4, 5 and 8');
    const expected = [ids.hola, ids.respuesta, ids.encolado];
    const inOrder = (list) => {
      const positions = expected.map((id) => list.findIndex((m) => m.id === id));
      return positions.every((p) => p >= 0) && positions.every((p, i) => i === 0 || p > positions[i - 1]);
    };
    const ascending = (list) => list.every((m, i) => i === 0 || m.seq > list[i - 1].seq);

    const viewer = new SoporteChatWebSocket({ baseUrl: wsBase });
    const vLog = track(viewer);
    await connect(viewer, vLog, ticketId, tokens.cliente);
    const ce = await waitFor('connectionEstablished', () => vLog.connectionEstablished[0]);
    viewer.disconnect();
    const hist = ce.historial_reciente;
    assert(inOrder(hist), `historial_reciente should hold ${show(expected)} in that order, has ids ${show(hist.map((m) => m.id))}`);
    assert(ascending(hist), `historial_reciente is not in ascending seq order: ${show(hist.map((m) => m.seq))}`);

    localStorageShim.setItem('authToken', tokens.cliente);
    const page = await sync.fetchChatHistory(ticketId, 1, 50);
    for (const key of ['count', 'next', 'previous', 'results']) assert(key in page, `the page has no "${key}": ${show(page)}`);
    assert(Array.isArray(page.results), `results should be an array: ${show(page)}`);
    assert(Number.isInteger(page.count) && page.count >= 3, `count should be >= 3: ${show(page.count)}`);
    assert(page.next === null && page.previous === null, `one page of ${page.results.length} messages should have next/previous null: ${show({ next: page.next, previous: page.previous })}`);
    assert(inOrder(page.results), `results should hold ${show(expected)} in order, has ${show(page.results.map((m) => m.id))}`);
    assert(ascending(page.results), `results not in ascending seq order: ${show(page.results.map((m) => m.seq))}`);

    // Page 1 holds the newest messages; each page lists oldest first.
    const all = page.results;
    const p1 = await sync.fetchChatHistory(ticketId, 1, 2);
    const p2 = await sync.fetchChatHistory(ticketId, 2, 2);
    assert(show(p1.results.map((m) => m.id)) === show(all.slice(-2).map((m) => m.id)),
      `page 1 (size 2) should be the newest two ${show(all.slice(-2).map((m) => m.id))}, got ${show(p1.results.map((m) => m.id))}`);
    assert(show(p2.results.map((m) => m.id)) === show(all.slice(-4, -2).map((m) => m.id)),
      `page 2 (size 2) should be ${show(all.slice(-4, -2).map((m) => m.id))}, got ${show(p2.results.map((m) => m.id))}`);
    assert(typeof p1.next === 'string' && p1.previous === null, `page 1 of several: next should be a URL and previous null: ${show({ next: p1.next, previous: p1.previous })}`);
    assert(typeof p2.previous === 'string', `page 2: previous should be a URL: ${show({ next: p2.next, previous: p2.previous })}`);
  });

  // 10
  await check('10. ChatSync.syncOfflineMessages stores once (idempotent by client_id); the agent receives it once', async () => {
    need(aLog, 'agent connection');
    localStorageShim.setItem('authToken', tokens.cliente);
    const offline = [{
      client_id: `offline_${Date.now()}_${randomBytes(4).toString('hex')}`,
      contenido: 'Escrito sin conexión, sincronizado después',
      timestamp: new Date(Date.now() - 60_000).toISOString(),
      metadata: { origen: 'offline' },
    }];
    const first = await sync.syncOfflineMessages(ticketId, offline);
    assert(Array.isArray(first.results) && first.results.length === 1, `results should hold one entry: ${show(first)}`);
    assert(Array.isArray(first.errores) && first.errores.length === 0, `errores should be []: ${show(first)}`);
    const r = first.results[0];
    assert(r.client_id === offline[0].client_id, `client_id: ${show(r)}`);
    assert(Number.isInteger(r.mensaje_id) && Number.isInteger(r.seq), `mensaje_id/seq: ${show(r)}`);
    assert(typeof r.timestamp === 'string' && !Number.isNaN(Date.parse(r.timestamp)), `timestamp: ${show(r)}`);
    assert(r.duplicado === false, `the first sync should have duplicado false: ${show(r)}`);

    const again = await sync.syncOfflineMessages(ticketId, offline);
    const r2 = again.results && again.results[0];
    assert(r2 && r2.mensaje_id === r.mensaje_id, `the second sync should return mensaje_id ${r.mensaje_id}: ${show(again)}`);
    assert(r2.duplicado === true, `the second sync should have duplicado true: ${show(r2)}`);
    assert(r2.seq === r.seq, `the second sync changed seq: ${r.seq} -> ${r2.seq}`);
    assert(Array.isArray(again.errores) && again.errores.length === 0, `errores should be []: ${show(again)}`);

    const got = await waitFor('messageReceived on the agent', () => aLog.messageReceived.find((m) => m.id === r.mensaje_id));
    assert(got.contenido === offline[0].contenido, `contenido: ${show(got)}`);
    await sleep(300);
    const copies = aLog.messageReceived.filter((m) => m.id === r.mensaje_id).length;
    assert(copies === 1, `the agent received the synced message ${copies} times`);
    ids.sincronizado = r.mensaje_id;
  });

  // 11
  await check('11. ChatSync.markAsRead by the agent; the customer\'s socket gets mensajes_leidos', async () => {
    need(ids.hola, 'the customer\'s message');
    localStorageShim.setItem('authToken', tokens.agente);
    const res = await sync.markAsRead(ticketId, [ids.hola]);
    assert(Array.isArray(res.marcados), `marcados should be an array: ${show(res)}`);
    assert(res.marcados.includes(ids.hola), `marcados should include ${ids.hola}: ${show(res)}`);
    assert(Number.isInteger(res.no_leidos), `no_leidos should be an integer: ${show(res)}`);
    const frame = await waitFor('a mensajes_leidos frame on the customer', () => cLog.raw.find((f) => f.tipo === 'mensajes_leidos'
      && f.data && Array.isArray(f.data.message_ids) && f.data.message_ids.includes(ids.hola)));
    assert(frame.data.lector && frame.data.lector.id === 201, `lector should be the agent: ${show(frame.data)}`);
  });

  // 12
  await check('12. ChatSync.getChatStats counts the messages', async () => {
    need(ticketId, 'ticket');
    localStorageShim.setItem('authToken', tokens.agente);
    const stats = await sync.getChatStats(ticketId);
    assert(Number.isInteger(stats.total_mensajes) && stats.total_mensajes > 0, `total_mensajes: ${show(stats)}`);
    assert(stats.por_tipo_autor && stats.por_tipo_autor.CLIENTE > 0, `por_tipo_autor.CLIENTE: ${show(stats)}`);
    if (ids.sincronizado) {
      assert(stats.total_mensajes >= 4, `total_mensajes should count at least the 4 messages sent: ${show(stats)}`);
      assert(stats.por_tipo_autor.CLIENTE >= 3 && stats.por_tipo_autor.AGENTE >= 1, `por_tipo_autor: ${show(stats.por_tipo_autor)}`);
    }
  });

  // 13
  await check('13. the agent disconnects; the customer receives agentLeft', async () => {
    need(aLog, 'agent connection');
    agent.disconnect();
    const left = await waitFor('agentLeft on the customer', () => cLog.agentLeft.find((d) => d && d.usuario && d.usuario.id === 201));
    assert(left.usuario.tipo === 'AGENTE', `usuario: ${show(left)}`);
  });

  // 14
  await check('14. another customer cannot open the ticket: connect() rejects (403), historial throws', async () => {
    need(ticketId, 'ticket');
    // A long reconnectDelay keeps the seed's automatic reconnection (D6) quiet.
    const intruder = new SoporteChatWebSocket({ baseUrl: wsBase, reconnectDelay: 3_600_000 });
    const iLog = track(intruder);
    let outcome;
    try {
      await connect(intruder, iLog, ticketId, tokens.intruso);
      outcome = 'resolved';
    } catch (error) {
      outcome = error;
    }
    assert(outcome !== 'resolved', 'connect() resolved: the server accepted the upgrade');
    const message = String(outcome && outcome.message);
    assert(!/timed out/.test(message), `connect() neither resolved nor rejected: ${message}`);
    assert(/\b403\b/.test(message), `the upgrade should be refused with 403, got: ${message}`);
    assert(iLog.connectionEstablished.length === 0, 'received connection_established');

    localStorageShim.setItem('authToken', tokens.intruso);
    let threw = null;
    try {
      await sync.fetchChatHistory(ticketId, 1, 50);
    } catch (error) {
      threw = error;
    }
    assert(threw, 'fetchChatHistory returned a page to a customer who does not own the ticket');
    assert(/HTTP 403/.test(threw.message), `fetchChatHistory should fail with HTTP 403, failed with: ${threw.message}`);
  });

  if (customer) customer.disconnect();
  finish();
}

main().catch((e) => finish(`crash: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`));
