import type { Attachment, ConnectionEstablished, FileUploaded, Message, MessageConfirmed } from './types';

/**
 * Pure helpers that keep a ticket's message list right: one entry per message
 * (by server `id`, and by `client_id` for an optimistic copy), confirmed
 * messages in `seq` order, unconfirmed ones after them in the order written.
 */

function key(message: Message): string {
  if (message.id !== undefined && message.id !== null) return `id:${message.id}`;
  return `client:${message.client_id}`;
}

function compare(a: Message, b: Message): number {
  const sa = a.seq;
  const sb = b.seq;
  if (sa !== undefined && sb !== undefined) return sa - sb;
  if (sa !== undefined) return -1;
  if (sb !== undefined) return 1;
  return a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0;
}

/** What an edit or a deletion changes of a message. */
function changedPart(message: Message): Partial<Message> {
  const { contenido, editado, eliminado, editado_en, rev } = message;
  return { contenido, editado, eliminado, editado_en, rev };
}

function mergeOne(existing: Message, incoming: Message): Message {
  const merged: Message = { ...existing, ...incoming };
  // A read receipt is never undone by an older copy.
  if (existing.estado === 'LEIDO' && incoming.estado !== 'LEIDO') merged.estado = 'LEIDO';
  // Nor an edit by a copy from before it (a history page read earlier).
  const older = (incoming.rev ?? 0) < (existing.rev ?? 0);
  if (older) Object.assign(merged, changedPart(existing));
  // A deleted message has no files; otherwise files only ever arrive.
  merged.archivos = merged.eliminado ? [] : mergeAttachments(existing.archivos ?? [], incoming.archivos ?? []);
  delete merged.error;
  return merged;
}

/**
 * Messages edited or deleted (`mensaje_actualizado`, a greeting's
 * `actualizados`): each replaces the copy held unless that one is newer. A
 * message not held (an older page never loaded) is not added.
 */
export function applyUpdates(list: readonly Message[], updated: readonly Message[]): readonly Message[] {
  const held = updated.filter((u) => u.id !== undefined && list.some((m) => m.id === u.id));
  return held.length ? mergeMessages(list, held) : list;
}

function mergeAttachments(a: Attachment[], b: Attachment[]): Attachment[] {
  const out = [...a];
  for (const file of b) if (!out.some((f) => f.id === file.id)) out.push(file);
  return out;
}

/** Merges server messages (history, catch-up, live) into `list`. */
export function mergeMessages(list: readonly Message[], incoming: readonly Message[]): readonly Message[] {
  if (incoming.length === 0) return list;
  const byId = new Map<number, number>();
  const byClient = new Map<string, number>();
  const out = [...list];
  out.forEach((m, i) => {
    if (m.id !== undefined) byId.set(m.id, i);
    if (m.client_id && m.id === undefined) byClient.set(m.client_id, i);
  });
  for (const message of incoming) {
    let index = message.id !== undefined ? byId.get(message.id) : undefined;
    // Our own message coming back from the room (catch-up, another tab): it
    // replaces the optimistic copy with the same client_id.
    if (index === undefined && message.client_id) index = byClient.get(message.client_id);
    if (index !== undefined) {
      out[index] = mergeOne(out[index], message);
      if (message.client_id) byClient.delete(message.client_id);
    } else {
      out.push({ ...message, archivos: message.archivos ?? [] });
      index = out.length - 1;
    }
    if (message.id !== undefined) byId.set(message.id, index);
  }
  return dedupe(out).sort(compare);
}

function dedupe(list: Message[]): Message[] {
  const seen = new Map<string, number>();
  const out: Message[] = [];
  for (const m of list) {
    const k = key(m);
    const at = seen.get(k);
    if (at === undefined) {
      seen.set(k, out.length);
      out.push(m);
    } else {
      out[at] = mergeOne(out[at], m);
    }
  }
  return out;
}

/** Adds (or refreshes) an optimistic message. */
export function addPending(list: readonly Message[], message: Message): readonly Message[] {
  const index = list.findIndex((m) => m.id === undefined && m.client_id === message.client_id);
  if (index >= 0) {
    const out = [...list];
    out[index] = { ...out[index], ...message };
    return out;
  }
  return [...list, message];
}

/** `mensaje_confirmado`: the optimistic copy gets its id, seq and time. */
export function applyConfirmation(list: readonly Message[], confirmation: MessageConfirmed): readonly Message[] {
  const index = list.findIndex((m) => m.client_id === confirmation.client_id && (m.id === undefined || m.id === confirmation.mensaje_id));
  if (index < 0) return list;
  const out = [...list];
  const current = out[index];
  out[index] = {
    ...current,
    id: confirmation.mensaje_id,
    seq: confirmation.seq,
    timestamp: confirmation.timestamp,
    estado: current.estado === 'LEIDO' ? 'LEIDO' : 'ENTREGADO',
    error: undefined,
  };
  return dedupe(out).sort(compare);
}

export function markFailed(list: readonly Message[], clientId: string, reason: string, code?: string): readonly Message[] {
  return list.map((m) => (m.client_id === clientId && m.id === undefined ? { ...m, estado: 'ERROR', error: reason, errorCode: code } : m));
}

export function markSending(list: readonly Message[], clientId: string): readonly Message[] {
  return list.map((m) => (m.client_id === clientId && m.id === undefined ? { ...m, estado: 'ENVIANDO', error: undefined, errorCode: undefined } : m));
}

/** `mensajes_leidos`: those ids are now read. */
/** Others' messages the reader has not seen: what a minimized chat counts. */
export function unseenCount(list: readonly Message[], readerId: number | null | undefined): number {
  return list.filter((m) => m.id !== undefined && !(m.autor.id !== null && m.autor.id === readerId) && m.estado === 'ENTREGADO' && m.autor.tipo !== 'SISTEMA' && !m.interno).length;
}

/** Back to ENTREGADO: a reading the server did not take. */
export function markUnread(list: readonly Message[], ids: readonly number[]): readonly Message[] {
  const set = new Set(ids);
  return list.map((m) => (m.id !== undefined && set.has(m.id) && m.estado === 'LEIDO' ? { ...m, estado: 'ENTREGADO' as const } : m));
}

export function markRead(list: readonly Message[], ids: readonly number[]): readonly Message[] {
  const set = new Set(ids);
  let changed = false;
  const out = list.map((m) => {
    if (m.id !== undefined && set.has(m.id) && m.estado !== 'LEIDO') {
      changed = true;
      return { ...m, estado: 'LEIDO' as const };
    }
    return m;
  });
  return changed ? out : list;
}

/** `file_uploaded`: attach to its message. Returns null when the message is not here yet. */
export function attachFile(list: readonly Message[], file: FileUploaded): readonly Message[] | null {
  const index = list.findIndex((m) => m.id === file.mensaje_id);
  if (index < 0) return null;
  const { mensaje_id: _m, ticket: _t, ...attachment } = file;
  const current = list[index];
  if ((current.archivos ?? []).some((a) => a.id === attachment.id)) return list;
  const out = [...list];
  out[index] = { ...current, archivos: [...(current.archivos ?? []), attachment] };
  return out;
}

/** The lowest `seq` held (for loading older history), or null. */
export function oldestSeq(list: readonly Message[]): number | null {
  for (const m of list) if (typeof m.seq === 'number') return m.seq;
  return null;
}

/** The highest `seq` held, or 0. */
export function newestSeq(list: readonly Message[]): number {
  let max = 0;
  for (const m of list) if (typeof m.seq === 'number' && m.seq > max) max = m.seq;
  return max;
}

/**
 * The greeting says our `since` cursor belongs to another history (a restored
 * or recreated database): `resync`, or a `since` beyond the ticket's newest
 * `seq`. What was held for the ticket is then dropped and the list starts over
 * from `historial_reciente`. The client (its cursor) and the store (its
 * messages) both follow this one rule.
 */
export function isStaleCursor(greeting: ConnectionEstablished): boolean {
  return greeting.resync === true || (greeting.since !== null && greeting.since !== undefined && greeting.since > greeting.last_seq);
}
