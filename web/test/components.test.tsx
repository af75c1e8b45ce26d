import { useState } from 'react';
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChatCache } from '../src/client/ChatCache';
import { ratingRequested } from '../src/client/chatState';
import type { HoursStatus } from '../src/client/types';
import { I18nProvider, translator } from '../src/i18n';
import { ChatSoporte, queueText } from '../src/react/components/ChatSoporte';
import { ConnectionStatus } from '../src/react/components/ConnectionStatus';
import { CsatPrompt } from '../src/react/components/CsatPrompt';
import { CustomerTicketActions } from '../src/react/components/CustomerTicketActions';
import { EmailRequest } from '../src/react/components/EmailRequest';
import { highlight, SearchBox } from '../src/react/components/SearchBox';
import { returnTime, TeamAvailability, waitText } from '../src/react/components/TeamAvailability';
import { Linkify, splitLinks } from '../src/react/components/Linkify';
import { Message, refusalText } from '../src/react/components/Message';
import { MessageInput } from '../src/react/components/MessageInput';
import { MessageList, startsGroup } from '../src/react/components/MessageList';
import { ana, carlos, FakeSocket, MemoryStorage, msg } from './fakes';

afterEach(cleanup);

describe('Message', () => {
  it('renders text as text, never as HTML', () => {
    const { container } = render(<Message message={msg(1, { contenido: '<img src=x onerror=alert(1)><b>hola</b>' })} />);
    expect(container.querySelector('img')).toBeNull();
    expect(container.querySelector('b')).toBeNull();
    expect(screen.getByText('<img src=x onerror=alert(1)><b>hola</b>')).toBeTruthy();
  });

  it('shows the state of own messages with an accessible label and a retry button on ERROR', () => {
    const retry = vi.fn();
    render(<Message message={msg(1, { autor: ana, estado: 'ERROR', id: undefined, seq: undefined })} isOwn onRetry={retry} />);
    expect(screen.getByRole('img', { name: 'Error al enviar' })).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: /Reintentar/ }));
    expect(retry).toHaveBeenCalled();
  });

  it('shows image previews and download links for attachments', () => {
    const file = { id: 3, nombre: 'captura.png', tamaño: 2048, tipo_mime: 'image/png', url: '/api/soporte/archivos/3/', thumbnail_url: '/api/soporte/archivos/3/miniatura/' };
    render(<Message message={msg(1, { tipo: 'ARCHIVO', contenido: '', archivos: [file] })} fileUrl={(u) => `${u}?token=t`} />);
    expect((screen.getByAltText('Vista previa de captura.png') as HTMLImageElement).src).toContain('/miniatura/?token=t');
    const link = screen.getByRole('link', { name: 'Descargar captura.png' }) as HTMLAnchorElement;
    expect(link.getAttribute('href')).toBe('/api/soporte/archivos/3/?token=t');
    expect(link.getAttribute('download')).toBe('captura.png');
  });

  it('tells why a message was refused in the reader’s language, by its codigo', () => {
    const refused = msg(1, { autor: ana, estado: 'ERROR', id: undefined, seq: undefined, error: 'El ticket está cerrado y no admite mensajes nuevos.', errorCode: 'ticket_cerrado' });
    const { unmount } = render(
      <I18nProvider locale="en">
        <Message message={refused} isOwn />
      </I18nProvider>,
    );
    expect(screen.getByRole('alert').textContent).toContain('The ticket is closed and takes no new messages.');
    unmount();
    // Spanish keeps the server's own words; an unknown codigo too.
    render(<Message message={{ ...refused, error: 'Ya tienes 3 tickets abiertos.', errorCode: 'algo_nuevo' }} isOwn />);
    expect(screen.getByRole('alert').textContent).toContain('Ya tienes 3 tickets abiertos.');
    expect(refusalText({ error: 'Texto del servidor', errorCode: 'algo_nuevo' }, 'en', translator('en'))).toBe('Texto del servidor');
  });

  it('speaks English when asked', () => {
    render(
      <I18nProvider locale="en">
        <Message message={msg(1, { autor: ana, estado: 'LEIDO' })} isOwn />
      </I18nProvider>,
    );
    expect(screen.getByRole('img', { name: 'Read' })).toBeTruthy();
    expect(screen.getByText('You')).toBeTruthy();
  });
});

describe('Linkify', () => {
  it('links only http and https, with noopener noreferrer in a new tab', () => {
    const { container } = render(<Linkify text="mira https://ejemplo.com/a?b=1. y javascript:alert(1) o data:text/html,x" />);
    const links = container.querySelectorAll('a');
    expect(links).toHaveLength(1);
    expect(links[0].getAttribute('href')).toBe('https://ejemplo.com/a?b=1');
    expect(links[0].getAttribute('rel')).toContain('noopener');
    expect(links[0].getAttribute('rel')).toContain('noreferrer');
    expect(links[0].getAttribute('target')).toBe('_blank');
    expect(container.textContent).toBe('mira https://ejemplo.com/a?b=1. y javascript:alert(1) o data:text/html,x');
  });

  it('keeps trailing punctuation out of the link', () => {
    expect(splitLinks('(ver http://a.com).')).toEqual([{ text: '(ver ' }, { text: 'http://a.com', href: 'http://a.com/' }, { text: ').' }]);
  });
});

describe('MessageList', () => {
  it('separates days with Hoy, Ayer and the date', () => {
    const now = new Date();
    const yesterday = new Date(now.getTime() - 86400000);
    const old = new Date(2024, 8, 20, 12);
    const messages = [msg(1, { timestamp: old.toISOString() }), msg(2, { timestamp: yesterday.toISOString() }), msg(3, { timestamp: now.toISOString() })];
    render(<MessageList messages={messages} currentUserId={1001} />);
    const separators = screen.getAllByRole('separator').map((s) => s.textContent);
    expect(separators[1]).toBe('Ayer');
    expect(separators[2]).toBe('Hoy');
    expect(separators[0]).toMatch(/2024/);
  });

  it('groups messages by author within 5 minutes', () => {
    const a = msg(1, { timestamp: '2026-11-27T10:00:00.000Z' });
    expect(startsGroup(msg(2, { timestamp: '2026-11-27T10:04:59.000Z' }), a)).toBe(false);
    expect(startsGroup(msg(2, { timestamp: '2026-11-27T10:05:01.000Z' }), a)).toBe(true);
    expect(startsGroup(msg(2, { autor: ana, timestamp: '2026-11-27T10:01:00.000Z' }), a)).toBe(true);
  });

  it('announces a new message from someone else in a live region', () => {
    const { rerender } = render(<MessageList messages={[msg(1)]} currentUserId={1001} />);
    const live = screen.getByTestId('live-region');
    expect(live.getAttribute('aria-live')).toBe('polite');
    expect(live.textContent).toBe('');
    rerender(<MessageList messages={[msg(1), msg(2, { contenido: 'Ya está resuelto' })]} currentUserId={1001} />);
    expect(live.textContent).toBe('Nuevo mensaje de Carlos: Ya está resuelto');
  });

  it('asks for older messages when scrolled to the top, and not when there are none', () => {
    const older = vi.fn();
    const { rerender } = render(<MessageList messages={[msg(5)]} currentUserId={1001} onLoadOlder={older} hasMore />);
    const region = screen.getByRole('region', { name: 'Mensajes' });
    region.scrollTop = 0;
    fireEvent.scroll(region);
    expect(older).toHaveBeenCalledOnce();
    rerender(<MessageList messages={[msg(1)]} currentUserId={1001} onLoadOlder={older} hasMore={false} />);
    fireEvent.scroll(region);
    expect(older).toHaveBeenCalledOnce();
    expect(screen.getByText('Inicio de la conversación')).toBeTruthy();
  });

  it('reports others’ unread messages as seen, not own ones', () => {
    const seen = vi.fn();
    render(<MessageList messages={[msg(1), msg(2, { autor: ana }), msg(3, { estado: 'LEIDO' })]} currentUserId={1001} onSeen={seen} />);
    expect(seen).toHaveBeenCalledWith([101]);
  });
});

describe('MessageInput', () => {
  it('sends with Enter, adds a line with Shift+Enter, and reports typing', () => {
    const send = vi.fn();
    const start = vi.fn();
    render(<MessageInput onSendMessage={send} onStartTyping={start} onStopTyping={() => {}} />);
    const box = screen.getByLabelText('Mensaje');
    fireEvent.change(box, { target: { value: 'hola' } });
    expect(start).toHaveBeenCalledOnce();
    fireEvent.keyDown(box, { key: 'Enter', shiftKey: true });
    expect(send).not.toHaveBeenCalled();
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(send).toHaveBeenCalledWith('hola');
    expect((box as HTMLTextAreaElement).value).toBe('');
  });

  it('shows the character counter near the limit and never exceeds it', () => {
    render(<MessageInput onSendMessage={() => {}} maxLength={10} />);
    const box = screen.getByLabelText('Mensaje') as HTMLTextAreaElement;
    fireEvent.change(box, { target: { value: '123456789' } });
    expect(screen.getByText('9/10')).toBeTruthy();
    fireEvent.change(box, { target: { value: '123456789012' } });
    expect(box.value).toBe('1234567890');
  });

  it('inserts an emoji from the keyboard-usable picker', async () => {
    render(<MessageInput onSendMessage={() => {}} />);
    fireEvent.click(screen.getByRole('button', { name: 'Agregar emoji' }));
    const picker = screen.getByRole('dialog', { name: 'Selector de emoji' });
    fireEvent.click(picker.querySelector('button')!);
    expect((screen.getByLabelText('Mensaje') as HTMLTextAreaElement).value).toBe('😀');
    expect(screen.queryByRole('dialog')).toBeNull();
  });

  it('labels every icon button', () => {
    render(<MessageInput onSendMessage={() => {}} onFilesSelected={() => {}} />);
    for (const name of ['Adjuntar archivo', 'Agregar emoji', 'Enviar mensaje']) expect(screen.getByRole('button', { name })).toBeTruthy();
  });
});

describe('MessageInput shortcuts', () => {
  const shortcuts = [
    { atajo: 'saludo', texto: 'Hola, ¿en qué puedo ayudarte?' },
    { atajo: 'salida', texto: 'Gracias por escribirnos.' },
    { atajo: 'revisar', texto: 'Lo reviso ahora.' },
  ];

  it('offers the canned responses that start as typed after "/", from the keyboard', () => {
    const send = vi.fn();
    const Harness = () => {
      const [value, setValue] = useState('');
      return <MessageInput onSendMessage={send} value={value} onChange={setValue} shortcuts={shortcuts} />;
    };
    render(<Harness />);
    const box = screen.getByLabelText('Mensaje');
    fireEvent.change(box, { target: { value: '/sal' } });
    const options = screen.getAllByRole('option');
    expect(options.map((o) => o.textContent)).toEqual(['/saludo Hola, ¿en qué puedo ayudarte?', '/salida Gracias por escribirnos.']);
    expect(box.getAttribute('aria-activedescendant')).toBe(options[0].id);
    fireEvent.keyDown(box, { key: 'ArrowDown' });
    expect(options[1].getAttribute('aria-selected')).toBe('true');
    fireEvent.keyDown(box, { key: 'Enter' });
    expect((box as HTMLTextAreaElement).value).toBe('Gracias por escribirnos.');
    expect(send).not.toHaveBeenCalled();
    expect(screen.queryByRole('listbox')).toBeNull();
    // Escape closes the list; Enter then sends what was typed.
    fireEvent.change(box, { target: { value: '/rev' } });
    fireEvent.keyDown(box, { key: 'Escape' });
    expect(screen.queryByRole('listbox')).toBeNull();
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(send).toHaveBeenCalledWith('/rev');
  });
});

describe('ConnectionStatus', () => {
  it('offers a reconnect button when disconnected', () => {
    const reconnect = vi.fn();
    render(<ConnectionStatus status="disconnected" onReconnect={reconnect} pending={2} />);
    expect(screen.getByRole('status').textContent).toContain('Desconectado');
    expect(screen.getByText('2 mensaje(s) pendientes de envío')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Intentar reconectar' }));
    expect(reconnect).toHaveBeenCalled();
  });
});

describe('ChatSoporte', () => {
  beforeEach(() => FakeSocket.reset());
  const token = `x.${btoa(JSON.stringify({ sub: '1001', name: 'Ana', role: 'CLIENTE' }))}.y`;
  const props = () => {
    const storage = new MemoryStorage();
    return {
      ticketId: 7,
      token,
      baseUrl: 'http://chat.test',
      storage,
      cache: new ChatCache(storage),
      fetchImpl: vi.fn(async () => new Response('{}')) as unknown as typeof fetch,
      client: { WebSocketImpl: FakeSocket.impl, network: null },
    };
  };

  it('chats: history, a sent message, typing from the other side', async () => {
    render(<ChatSoporte {...props()} />);
    await waitFor(() => expect(FakeSocket.instances.length).toBe(1));
    const s = FakeSocket.last();
    act(() => s.establish({ historial_reciente: [msg(1, { contenido: 'Hola, ¿en qué te ayudo?' })] }));
    expect(screen.getByText('Hola, ¿en qué te ayudo?')).toBeTruthy();
    expect(screen.getByRole('status').textContent).toContain('Conectado');
    const box = screen.getByLabelText('Mensaje');
    fireEvent.change(box, { target: { value: 'No puedo entrar' } });
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(s.frames('mensaje')[0].data.mensaje).toBe('No puedo entrar');
    expect(screen.getByRole('img', { name: 'Enviando' })).toBeTruthy();
    act(() => s.receive('usuario_escribiendo', { usuario: carlos }));
    expect(screen.getByTestId('typing').textContent).toContain('Carlos está escribiendo...');
  });

  it('counts what arrives while minimized, in the header, for screen readers and in the title', async () => {
    document.title = 'Centro de ayuda';
    render(<ChatSoporte {...props()} initialMinimized titleCount />);
    await waitFor(() => expect(FakeSocket.instances.length).toBe(1));
    const s = FakeSocket.last();
    act(() => s.establish());
    act(() => s.receive('mensaje_recibido', msg(1, { autor: carlos, contenido: 'Hola' })));
    act(() => s.receive('mensaje_recibido', msg(2, { autor: carlos, contenido: '¿Sigues ahí?' })));
    expect(screen.getByTestId('unseen').textContent).toBe('2');
    expect(document.title).toBe('(2) Centro de ayuda');
    expect(screen.getByText('2 mensajes nuevos sin leer')).toBeTruthy();
    const expand = screen.getByRole('button', { name: 'Expandir chat (2 sin leer)' });
    // Opened: the list is on screen, the messages are seen, the count goes.
    fireEvent.click(expand);
    await waitFor(() => expect(document.title).toBe('Centro de ayuda'));
    expect(screen.queryByTestId('unseen')).toBeNull();
  });

  it('staff choose reply or internal note, and the composer shows which', async () => {
    render(<ChatSoporte {...props()} allowInternalNotes />);
    await waitFor(() => expect(FakeSocket.instances.length).toBe(1));
    const s = FakeSocket.last();
    act(() => s.establish());
    const reply = screen.getByRole('button', { name: 'Responder al cliente' });
    const note = screen.getByRole('button', { name: 'Nota interna (solo equipo)' });
    expect(reply.getAttribute('aria-pressed')).toBe('true');
    fireEvent.click(note);
    expect(note.getAttribute('aria-pressed')).toBe('true');
    const box = screen.getByLabelText('Mensaje');
    expect(box.getAttribute('placeholder')).toBe('Nota interna: solo la ve el equipo');
    expect(box.closest('.sp-composer-note')).toBeTruthy();
    fireEvent.change(box, { target: { value: 'Cliente VIP' } });
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(s.frames('mensaje')[0].data.metadata).toEqual({ interno: true });
    fireEvent.click(reply);
    fireEvent.change(box, { target: { value: 'Hola' } });
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(s.frames('mensaje')[1].data.metadata).toEqual({});
  });

  it('follows the system colours unless told light or dark', () => {
    const { container, rerender } = render(<ChatSoporte {...props()} />);
    expect(container.querySelector('.sp-chat')?.classList.contains('sp-theme-auto')).toBe(true);
    rerender(<ChatSoporte {...props()} theme="dark" />);
    expect(container.querySelector('.sp-chat')?.classList.contains('sp-theme-dark')).toBe(true);
  });

  it('tells the agent the ticket was transferred away (close 4001) and stays disconnected', async () => {
    render(<ChatSoporte {...props()} />);
    await waitFor(() => expect(FakeSocket.instances.length).toBe(1));
    const s = FakeSocket.last();
    act(() => s.establish());
    act(() => s.drop(4001, 'el ticket fue transferido a otro agente'));
    expect(screen.getByRole('alert').textContent).toContain('El ticket fue transferido a otro agente.');
    expect(screen.getByRole('status').textContent).toContain('Desconectado');
    expect(FakeSocket.instances).toHaveLength(1);
  });

  it('says in English that the ticket no longer exists (close 4004)', async () => {
    render(<ChatSoporte {...props()} locale="en" />);
    await waitFor(() => expect(FakeSocket.instances.length).toBe(1));
    const s = FakeSocket.last();
    act(() => s.establish());
    act(() => s.drop(4004, 'el ticket ya no existe'));
    expect(screen.getByRole('alert').textContent).toContain('This ticket no longer exists.');
  });

  it('checks dropped files before uploading and explains the refusal', async () => {
    render(<ChatSoporte {...props()} maxFileSize={100} />);
    await waitFor(() => expect(FakeSocket.instances.length).toBe(1));
    const s = FakeSocket.last();
    act(() => s.establish());
    const chat = screen.getByTestId('chat');
    const big = new File(['x'.repeat(200)], 'grande.pdf', { type: 'application/pdf' });
    const exe = new File(['x'], 'programa.exe');
    fireEvent.drop(chat, { dataTransfer: { files: [big, exe] } });
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('grande.pdf: supera el máximo de 100 B.');
    expect(alert.textContent).toContain('programa.exe: tipo no permitido');
    expect(s.frames('file_upload_request')).toHaveLength(0);
  });
});

describe('CsatPrompt', () => {
  it('rates with a radio group named in words and an optional comment', async () => {
    const rate = vi.fn().mockResolvedValue(undefined);
    render(<CsatPrompt onRate={rate} />);
    const send = screen.getByRole('button', { name: 'Enviar valoración' }) as HTMLButtonElement;
    expect(send.disabled).toBe(true);
    expect(screen.getByRole('group', { name: '¿Cómo valorarías la atención recibida?' })).toBeTruthy();
    fireEvent.click(screen.getByRole('radio', { name: '4: Satisfecho' }));
    fireEvent.change(screen.getByLabelText('Comentario (opcional)'), { target: { value: 'Bien' } });
    fireEvent.click(send);
    await waitFor(() => expect(rate).toHaveBeenCalledWith(4, 'Bien'));
  });

  it('shows why a rating was refused and keeps the form', async () => {
    const rate = vi.fn().mockRejectedValue(new Error('El plazo para valorar este ticket terminó.'));
    render(<CsatPrompt onRate={rate} />);
    fireEvent.click(screen.getByRole('radio', { name: '2: Insatisfecho' }));
    fireEvent.click(screen.getByRole('button', { name: 'Enviar valoración' }));
    expect((await screen.findByRole('alert')).textContent).toContain('El plazo para valorar');
    expect(screen.getByRole('radio', { name: '2: Insatisfecho' })).toBeTruthy();
  });
});

describe('queueText', () => {
  it('says the place and the usual wait when the server knows them', () => {
    const t = translator('es');
    expect(queueText(null, t)).toBe('Te atenderá la próxima persona disponible del equipo: puedes ir contándonos.');
    expect(queueText({ posicion: 1, espera_tipica_segundos: null }, t)).toMatch(/Eres el siguiente\.$/);
    expect(queueText({ posicion: 2, espera_tipica_segundos: null }, t)).toMatch(/Hay 1 persona por delante de ti\.$/);
    expect(queueText({ posicion: 4, espera_tipica_segundos: 300 }, translator('en'))).toMatch(/There are 3 people ahead of you\. The usual wait is 5 minutes\.$/);
  });
});

describe('SearchBox', () => {
  it('marks matches by UTF-16 indices as text, never HTML', () => {
    const { container } = render(<p>{highlight('😀 <b>Café</b> y café', [[6, 10], [17, 21]])}</p>);
    expect(Array.from(container.querySelectorAll('mark')).map((m) => m.textContent)).toEqual(['Café', 'café']);
    expect(container.querySelector('b')).toBeNull();
    expect(container.textContent).toBe('😀 <b>Café</b> y café');
  });

  it('searches as you type, moves with the arrows and opens with Enter', async () => {
    const hit = (id: number, texto: string) => ({
      ticket: { id, asunto: `T${id}`, estado: 'ABIERTO' as const, cliente: ana, agente: null, creado: 'x', actualizado: 'x', last_seq: 1 },
      campo: 'mensaje' as const,
      mensaje_id: id * 10,
      seq: 1,
      texto,
      coincidencias: [[0, 7]] as [number, number][],
      fecha: 'x',
    });
    const search = vi.fn(async () => [hit(1, 'factura uno'), hit(2, 'factura dos')]);
    const open = vi.fn();
    render(<SearchBox search={search} onOpen={open} />);
    const box = screen.getByRole('combobox', { name: 'Buscar en las conversaciones (Ctrl+K)' });
    fireEvent.change(box, { target: { value: 'factu' } });
    await screen.findByText('dos');
    expect(search).toHaveBeenCalledWith('factu');
    fireEvent.keyDown(box, { key: 'ArrowDown' });
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(open).toHaveBeenCalledWith(expect.objectContaining({ mensaje_id: 20 }));
  });
});

describe('EmailRequest', () => {
  it('offers the transcript behind a button, pre-filled with the known address, and says where it went', async () => {
    const submit = vi.fn().mockResolvedValue('ana@example.com');
    render(<EmailRequest purpose="transcript" known="ana@example.com" onSubmit={submit} />);
    fireEvent.click(screen.getByRole('button', { name: 'Enviarme la conversación por correo' }));
    const input = screen.getByLabelText('Tu correo para recibir la conversación') as HTMLInputElement;
    expect(input.value).toBe('ana@example.com');
    fireEvent.click(screen.getByRole('button', { name: 'Enviar' }));
    await waitFor(() => expect(submit).toHaveBeenCalledWith('ana@example.com'));
    expect((await screen.findByRole('status')).textContent).toBe('Te enviamos la conversación a ana@example.com.');
  });

  it('asks an absent team’s customer for an address at once and keeps the form on a refusal', async () => {
    const submit = vi.fn().mockRejectedValue(new Error('email no es una dirección de correo.'));
    render(
      <I18nProvider locale="en">
        <EmailRequest purpose="away" known={null} onSubmit={submit} />
      </I18nProvider>,
    );
    const input = screen.getByLabelText('Leave your email and we will let you know when we reply');
    fireEvent.change(input, { target: { value: 'ana@example' } });
    fireEvent.click(screen.getByRole('button', { name: 'Notify me' }));
    expect((await screen.findByRole('alert')).textContent).toContain('email no es una dirección');
    expect(screen.getByRole('button', { name: 'Notify me' })).toBeTruthy();
  });
});

describe('CustomerTicketActions', () => {
  it('resolves at once and closes only after confirming', async () => {
    const change = vi.fn().mockResolvedValue(undefined);
    render(<CustomerTicketActions estado="ABIERTO" onChange={change} />);
    fireEvent.click(screen.getByRole('button', { name: 'Mi problema está resuelto' }));
    await waitFor(() => expect(change).toHaveBeenCalledWith('RESUELTO'));
    // Busy until the change is answered: the buttons come back after.
    const close = screen.getByRole('button', { name: 'Cerrar conversación' }) as HTMLButtonElement;
    await waitFor(() => expect(close.disabled).toBe(false));
    fireEvent.click(close);
    expect(change).toHaveBeenCalledTimes(1);
    fireEvent.click(screen.getByRole('button', { name: 'Cancelar' }));
    fireEvent.click(screen.getByRole('button', { name: 'Cerrar conversación' }));
    fireEvent.click(screen.getByRole('button', { name: 'Sí, cerrar' }));
    await waitFor(() => expect(change).toHaveBeenCalledWith('CERRADO'));
  });

  it('offers nothing on a closed ticket', () => {
    const { container } = render(<CustomerTicketActions estado="CERRADO" onChange={vi.fn()} />);
    expect(container.textContent).toBe('');
  });
});

describe('ratingRequested', () => {
  const ticket = { id: 1, asunto: 'x', estado: 'RESUELTO' as const, cliente: ana, agente: carlos, creado: '', actualizado: '', last_seq: 3 };
  const asked = msg(3, { tipo: 'SISTEMA', metadata: { evento: 'estado', anterior: 'ABIERTO', nuevo: 'RESUELTO', pide_valoracion: true } });
  it('asks the customer where the server asked, until rated or reopened', () => {
    expect(ratingRequested({ ticket, messages: [asked], currentUser: ana })).toBe(true);
    expect(ratingRequested({ ticket, messages: [asked], currentUser: carlos })).toBe(false);
    expect(ratingRequested({ ticket: { ...ticket, estado: 'ABIERTO' }, messages: [asked], currentUser: ana })).toBe(false);
    expect(ratingRequested({ ticket: { ...ticket, csat: { puntuacion: 5, creado: '' } }, messages: [asked], currentUser: ana })).toBe(false);
    const notAsked = msg(3, { tipo: 'SISTEMA', metadata: { evento: 'estado', anterior: 'ABIERTO', nuevo: 'RESUELTO' } });
    expect(ratingRequested({ ticket, messages: [notAsked], currentUser: ana })).toBe(false);
  });
});

describe('TeamAvailability', () => {
  const now = new Date(2026, 11, 7, 20, 0);
  const hours = { zona: 'Europe/Madrid', semana: { lunes: [{ desde: '09:00', hasta: '18:00' }], martes: [], miercoles: [], jueves: [], viernes: [], sabado: [], domingo: [] }, excepciones: [] };
  const status = (over: Partial<HoursStatus>): HoursStatus => ({ horario: hours, abierto: true, cierra: null, abre: null, respuesta_tipica_segundos: null, ...over });

  it('says when the team is back, in words, and that messages are welcome', () => {
    const tomorrow = new Date(2026, 11, 8, 9, 0).toISOString();
    render(<TeamAvailability hours={status({ abierto: false, abre: tomorrow })} now={now} />);
    expect(screen.getByTestId('availability').textContent).toBe('Ahora estamos fuera de horario: volvemos mañana a las 9:00. Déjanos tu mensaje y te responderemos.');
  });

  it('names the weekday or the date further ahead, and speaks English', () => {
    const t = translator('es');
    expect(returnTime(new Date(2026, 11, 10, 9, 0), now, 'es', t)).toBe('el jueves a las 9:00');
    expect(returnTime(new Date(2027, 0, 7, 9, 30), now, 'es', t)).toBe('el 7 de enero a las 9:30');
    expect(returnTime(new Date(2026, 11, 7, 21, 0), now, 'en', translator('en'))).toBe('today at 21:00');
  });

  it('gives the typical reply time while the team is in, and nothing without data', () => {
    render(<TeamAvailability hours={status({ respuesta_tipica_segundos: 290 })} now={now} />);
    expect(screen.getByTestId('availability').textContent).toBe('Estamos disponibles. Solemos responder en 5 minutos.');
    cleanup();
    const { container } = render(<TeamAvailability hours={status({ horario: null })} now={now} />);
    expect(container.textContent).toBe('');
    expect(waitText(30, translator('en'))).toBe('under a minute');
    expect(waitText(7200, translator('es'))).toBe('2 horas');
  });
});

describe('ChatSoporte for a customer waiting in the queue', () => {
  it('says someone will come while nobody has taken the ticket', async () => {
    const storage = new MemoryStorage();
    const customerToken = `x.${btoa(JSON.stringify({ sub: '1001', name: 'Ana', role: 'CLIENTE' }))}.y`;
    render(<ChatSoporte ticketId={7} token={customerToken} baseUrl="http://chat.test" storage={storage} cache={new ChatCache(storage)} fetchImpl={vi.fn(async () => new Response('{}')) as unknown as typeof fetch} client={{ WebSocketImpl: FakeSocket.impl, network: null }} hours={false} />);
    await waitFor(() => expect(FakeSocket.instances.length).toBe(1));
    const s = FakeSocket.last();
    act(() => s.establish({ usuario: { ...ana, online: true }, ticket: { id: 7, asunto: 'x', estado: 'ABIERTO', cliente: ana, agente: null, creado: '', actualizado: '', last_seq: 0 } }));
    expect(screen.getByTestId('queue').textContent).toContain('Te atenderá la próxima persona disponible');
    act(() => s.receive('ticket_actualizado', { evento: 'asignado', ticket: { id: 7, asunto: 'x', estado: 'ABIERTO', cliente: ana, agente: carlos, creado: '', actualizado: '', last_seq: 0 } }));
    expect(screen.queryByTestId('queue')).toBeNull();
  });
});

describe('texts in any language', () => {
  it('takes a host’s overrides for a locale of its own, English where one is missing', () => {
    const t = translator('fr', { 'input.send': 'Envoyer le message' });
    expect(t('input.send')).toBe('Envoyer le message');
    expect(t('input.attach')).toBe('Attach file');
    expect(translator('es-MX')('input.send')).toBe('Enviar mensaje');
    render(
      <I18nProvider locale="fr" messages={{ 'input.label': 'Message', 'input.send': 'Envoyer le message' }}>
        <MessageInput onSendMessage={() => {}} />
      </I18nProvider>,
    );
    expect(screen.getByRole('button', { name: 'Envoyer le message' })).toBeTruthy();
  });
});

describe('Message changes', () => {
  const own = (extra = {}) => msg(1, { autor: ana, ...extra });

  it('edits in place: Enter saves, Escape cancels, a refusal is read out in the reader language', async () => {
    const edit = vi.fn(async () => {});
    render(<Message message={own()} isOwn actions={{ edit, canEdit: () => true }} />);
    fireEvent.click(screen.getByRole('button', { name: 'Editar' }));
    const box = screen.getByRole('textbox', { name: 'Editar mensaje' });
    fireEvent.change(box, { target: { value: 'nuevo texto' } });
    fireEvent.keyDown(box, { key: 'Enter' });
    await waitFor(() => expect(edit).toHaveBeenCalledWith(expect.objectContaining({ id: 101 }), 'nuevo texto'));
    await waitFor(() => expect(screen.queryByRole('textbox', { name: 'Editar mensaje' })).toBeNull());
    cleanup();
    const { ApiError } = await import('../src/client/ChatSync');
    const late = vi.fn(async () => {
      throw new ApiError('Ya no se puede editar este mensaje: pasó el tiempo para hacerlo.', 409, 'fuera_de_plazo');
    });
    render(
      <I18nProvider locale="en">
        <Message message={own()} isOwn actions={{ edit: late, canEdit: () => true }} />
      </I18nProvider>,
    );
    fireEvent.click(screen.getByRole('button', { name: 'Edit' }));
    fireEvent.submit(screen.getByRole('textbox', { name: 'Edit message' }).closest('form')!);
    expect((await screen.findByRole('alert')).textContent).toBe('This message can no longer be edited.');
  });

  it('asks before deleting, and shows a deleted message as deleted with no actions but its versions', async () => {
    const remove = vi.fn(async () => {});
    render(<Message message={own()} isOwn actions={{ remove, canDelete: () => true, reply: () => {} }} />);
    fireEvent.click(screen.getByRole('button', { name: 'Eliminar' }));
    expect(remove).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'Sí, eliminar' }));
    await waitFor(() => expect(remove).toHaveBeenCalledOnce());
    cleanup();
    const versions = vi.fn(async () => [{ rev: 1, contenido: 'mi tarjeta 4111', cambio: 'eliminado' as const, por: ana, en: '2026-11-27T10:09:00.000Z' }]);
    render(<Message message={own({ eliminado: true, contenido: 'Mensaje eliminado.', rev: 1 })} actions={{ remove, reply: () => {}, canDelete: () => true, versions }} />);
    expect(screen.getByTestId('message-deleted').textContent).toBe('Mensaje eliminado');
    expect(screen.queryByRole('button', { name: 'Eliminar' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Responder' })).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Versiones anteriores' }));
    expect(await screen.findByText('mi tarjeta 4111')).toBeTruthy();
  });

  it('quotes the message it answers, or says it answers one not loaded', () => {
    const quoted = msg(1, { contenido: '¿Cuándo llega mi pedido?', autor: ana });
    render(<MessageList messages={[quoted, msg(2, { replyTo: 101, contenido: 'Mañana' }), msg(3, { replyTo: 5, contenido: 'Sí' })]} />);
    const quotes = screen.getAllByRole('button', { name: /Ana|anterior/ });
    expect(quotes[0].textContent).toContain('¿Cuándo llega mi pedido?');
    expect(quotes[1].textContent).toBe('Respuesta a un mensaje anterior');
  });
});
