// `widget.js`: the one tag a host page adds. It draws a launcher button and,
// when the chat is first wanted (opened, hovered, or the browser idle),
// an iframe of the Soporte origin (`/widget/`) that holds the chat itself.
//
// Why an iframe and not Shadow DOM for the panel: it isolates the host and
// the chat both ways (CSS, globals, a host's polyfills), the chat's socket
// and API calls are same-origin to Soporte (no CORS, the WebSocket Origin
// check passes), and a host with a strict CSP only needs `script-src`,
// `style-src` and `frame-src` for Soporte. The launcher lives in a closed
// Shadow DOM with a linked stylesheet from Soporte (no inline style, which a
// strict CSP refuses), so host CSS does not reach it either.
//
// Kept small and dependency-free on purpose: it loads on every page of the
// host, chat or no chat (CI fails past 15 KB gzip).

type Theme = 'light' | 'dark' | 'auto';
type Position = 'right' | 'left';

interface InitOptions {
  token?: string;
  getToken?: () => string | Promise<string>;
  ticketId?: number;
  locale?: string;
  theme?: Theme;
  position?: Position;
  /** Overrides of any text of the panel, by key. */
  messages?: Record<string, string>;
}

type Call = [string, ArrayLike<unknown>];

interface Api {
  init(options: InitOptions): void;
  open(): void;
  close(): void;
  /** Queued calls of the stub (`window.Soporte.q`). */
  q?: Call[];
}

declare global {
  interface Window {
    Soporte?: Partial<Api>;
  }
}

const LABELS: Record<string, { open: string; close: string; unread: (n: number) => string; title: string }> = {
  es: {
    open: 'Abrir chat de soporte',
    close: 'Cerrar chat de soporte',
    unread: (n) => (n === 1 ? '1 mensaje sin leer' : `${n} mensajes sin leer`),
    title: 'Chat de soporte',
  },
  en: {
    open: 'Open support chat',
    close: 'Close support chat',
    unread: (n) => (n === 1 ? '1 unread message' : `${n} unread messages`),
    title: 'Support chat',
  },
};

const SVG = 'http://www.w3.org/2000/svg';
/** lucide "message-circle" and "x" (ISC), drawn with DOM calls: no inline markup. */
const ICONS: Record<string, string[]> = {
  chat: ['M7.9 20A9 9 0 1 0 4 16.1L2 22Z'],
  close: ['M18 6 6 18', 'm6 6 12 12'],
};

function icon(name: string): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  for (const [k, v] of Object.entries({ viewBox: '0 0 24 24', width: '26', height: '26', fill: 'none', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linecap': 'round', 'stroke-linejoin': 'round', 'aria-hidden': 'true' })) {
    svg.setAttribute(k, v);
  }
  for (const d of ICONS[name]) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.appendChild(path);
  }
  return svg;
}

import { Attention } from '../src/client/attention';

const script = document.currentScript as HTMLScriptElement | null;
const BASE = new URL(script?.src ?? location.href).origin;

function start(): Api {
  let options: InitOptions | null = null;
  let root: ShadowRoot | null = null;
  let button: HTMLButtonElement;
  let badge: HTMLSpanElement;
  let frame: HTMLIFrameElement | null = null;
  let ready = false;
  let opened = false;
  let unread = 0;
  // Sound off until the customer turns it on (remembered on this site).
  const attention = new Attention({ defaultSound: false, key: 'soporte_sound' });

  const labels = () => LABELS[(options?.locale ?? document.documentElement.lang ?? 'es').slice(0, 2)] ?? LABELS.es;

  const token = async (): Promise<string> => (options?.getToken ? await options.getToken() : (options?.token ?? ''));

  const post = (message: object) => frame?.contentWindow?.postMessage(message, BASE);

  const sendInit = async () => {
    if (!options) return;
    post({
      type: 'soporte:init',
      token: await token(),
      ticketId: options.ticketId,
      locale: options.locale,
      theme: options.theme ?? 'auto',
      messages: options.messages,
      open: opened,
      // The panel asks again (`soporte:token`) only if there is someone to ask.
      refresh: Boolean(options.getToken),
      sound: attention.soundOn,
    });
  };

  const showCount = () => {
    badge.textContent = unread > 0 ? String(unread) : '';
    badge.hidden = unread === 0;
    const l = labels();
    button.setAttribute('aria-label', opened ? l.close : unread > 0 ? `${l.open} (${l.unread(unread)})` : l.open);
    // `(N) ` on the host's title while the chat is closed or the tab hidden.
    const prefix = /^\(\d+\) /;
    const bare = document.title.replace(prefix, '');
    document.title = unread > 0 && (!opened || document.hidden) ? `(${unread}) ${bare}` : bare;
  };

  const load = () => {
    if (frame || !root) return;
    frame = document.createElement('iframe');
    frame.src = `${BASE}/widget/`;
    frame.title = labels().title;
    frame.className = 'panel';
    frame.hidden = !opened;
    frame.setAttribute('allow', 'clipboard-write');
    root.appendChild(frame);
  };

  const setOpen = (open: boolean) => {
    opened = open;
    if (open) load();
    if (frame) frame.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    button.replaceChildren(icon(open ? 'close' : 'chat'), badge);
    root?.host.classList.toggle('open', open);
    post({ type: 'soporte:visibility', open });
    showCount();
    if (open && ready) frame?.focus();
  };

  const onMessage = async (event: MessageEvent) => {
    if (event.origin !== BASE || !frame || event.source !== frame.contentWindow) return;
    const data = event.data as { type?: string; unread?: number; on?: boolean; title?: string; body?: string };
    switch (data?.type) {
      case 'soporte:ready':
        ready = true;
        await sendInit();
        break;
      case 'soporte:token':
        post({ type: 'soporte:token', token: await token() });
        break;
      case 'soporte:unread':
        unread = Math.max(0, Number(data.unread) || 0);
        showCount();
        break;
      case 'soporte:sound':
        attention.setSound(Boolean(data.on));
        break;
      case 'soporte:engaged':
        // The customer just wrote (a gesture, which reaches this page too):
        // the one moment to ask for notifications.
        if (attention.canAsk) void attention.requestPermission();
        break;
      case 'soporte:attention':
        attention.signal(
          { title: String(data.title ?? ''), body: String(data.body ?? ''), tag: 'soporte', onClick: () => setOpen(true) },
          opened && !document.hidden,
        );
        break;
      case 'soporte:close':
        setOpen(false);
        button.focus();
        break;
    }
  };

  const mount = () => {
    if (root) return;
    const host = document.createElement('div');
    host.setAttribute('data-soporte-widget', '');
    if (options?.position === 'left') host.classList.add('left');
    root = host.attachShadow({ mode: 'open' });
    const sheet = document.createElement('link');
    sheet.rel = 'stylesheet';
    sheet.href = `${BASE}/widget-launcher.css`;
    button = document.createElement('button');
    button.type = 'button';
    button.className = 'launcher';
    badge = document.createElement('span');
    badge.className = 'badge';
    badge.setAttribute('aria-hidden', 'true');
    badge.hidden = true;
    button.append(icon('chat'), badge);
    button.setAttribute('aria-expanded', 'false');
    button.addEventListener('click', () => setOpen(!opened));
    // Warm up on intent: the panel is ready by the time it is clicked.
    button.addEventListener('pointerenter', load, { once: true });
    button.addEventListener('focus', load, { once: true });
    root.append(sheet, button);
    document.body.appendChild(host);
    window.addEventListener('message', (e) => void onMessage(e));
    document.addEventListener('visibilitychange', showCount);
    const idle = (window as { requestIdleCallback?: (cb: () => void, o?: object) => void }).requestIdleCallback;
    if (idle) idle(load, { timeout: 8000 });
    showCount();
  };

  return {
    init(given: InitOptions) {
      options = { ...given };
      if (document.body) mount();
      else document.addEventListener('DOMContentLoaded', mount, { once: true });
      if (ready) void sendInit();
    },
    open: () => (root ? setOpen(true) : undefined),
    close: () => (root ? setOpen(false) : undefined),
  };
}

const api = start();
const queued = window.Soporte?.q ?? [];
window.Soporte = api;
for (const [name, args] of queued) {
  const fn = (api as unknown as Record<string, (...a: unknown[]) => void>)[name];
  if (typeof fn === 'function') fn(...Array.from(args));
}

export {};
