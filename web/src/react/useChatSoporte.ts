import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ChatCache } from '../client/ChatCache';
import { ChatSync } from '../client/ChatSync';
import { SoporteChatWebSocket, type SoporteChatConfig } from '../client/SoporteChatWebSocket';
import * as list from '../client/messages';
import type {
  ChatTransferred,
  ConnectionEstablished,
  ConnectionStatus,
  FileUploaded,
  KeyValueStorage,
  Limits,
  Message,
  MessageConfirmed,
  MessagesRead,
  Participant,
  Person,
  ServerError,
  Ticket,
  TicketUpdated,
  TypingEvent,
} from '../client/types';
import { defaultStorage, generateClientId, httpToWs, pageOrigin } from '../client/util';
import { personFromToken } from './token';

export interface UseChatConfig {
  /** The JWT. Without it (and without `getToken`), localStorage `authToken` is used, as in the seed. */
  token?: string;
  /** Called before each connection and REST call: lets the host refresh an expiring token. */
  getToken?: () => string | Promise<string>;
  /** Server base URL (`http://host:port`). Default: the page's origin. */
  baseUrl?: string;
  /** Message cache (first paint, `since`); `null` turns it off. */
  cache?: ChatCache | null;
  /** Where the outgoing queue lives (default localStorage); `null`: memory only. */
  storage?: KeyValueStorage | null;
  /** Checked before an upload is even requested. */
  maxFileSize?: number;
  allowedFileTypes?: string[];
  /** Messages per page when scrolling back. */
  pageSize?: number;
  /** Extra settings for the socket client (backoff, heartbeat, test doubles). */
  client?: Partial<SoporteChatConfig>;
  fetchImpl?: typeof fetch;
}

export interface UploadState {
  id: string;
  fileName: string;
  progress: number;
  error?: string;
}

export const DEFAULT_ALLOWED_TYPES = ['jpg', 'jpeg', 'png', 'pdf', 'doc', 'docx'];
export const DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024;

export class FileCheckError extends Error {
  constructor(
    readonly reason: 'tooBig' | 'badType' | 'empty',
    readonly fileName: string,
  ) {
    super(reason);
  }
}

/** Size and type checks done before anything is sent. */
export function checkFile(file: File, maxFileSize = DEFAULT_MAX_FILE_SIZE, allowed = DEFAULT_ALLOWED_TYPES): FileCheckError | null {
  const ext = file.name.includes('.') ? file.name.split('.').pop()!.toLowerCase() : '';
  if (!allowed.includes(ext)) return new FileCheckError('badType', file.name);
  if (file.size === 0) return new FileCheckError('empty', file.name);
  if (file.size > maxFileSize) return new FileCheckError('tooBig', file.name);
  return null;
}

/**
 * The seed's `useChatSoporte`, on top of `SoporteChatWebSocket`: optimistic
 * messages (ENVIANDO → ENTREGADO → LEIDO, or ERROR with retry), messages unique
 * and in `seq` order, older history on demand, first paint from the cache,
 * drafts per ticket, and mark-read for messages actually seen.
 */
export function useChatSoporte(ticketId: number | null | undefined, config: UseChatConfig = {}) {
  // Taken once: an inline `new ChatCache()` in the caller must not restart the chat.
  const [cache] = useState<ChatCache | null>(() => (config.cache === undefined ? new ChatCache() : config.cache));
  const baseUrl = (config.baseUrl ?? pageOrigin()).replace(/\/$/, '');
  const tokenRef = useRef<string | null>(null);
  const configRef = useRef(config);
  configRef.current = config;

  const getToken = useCallback(async (): Promise<string> => {
    const c = configRef.current;
    const token = c.getToken ? await c.getToken() : c.token ?? defaultStorage()?.getItem('authToken') ?? '';
    tokenRef.current = token;
    return token;
  }, []);

  const sync = useMemo(
    () =>
      new ChatSync({
        baseUrl,
        getToken,
        fetchImpl: (input, init) => (configRef.current.fetchImpl ?? fetch)(input, init),
      }),
    [baseUrl, getToken],
  );

  const [messages, setMessages] = useState<Message[]>(() => (ticketId ? cache?.getMessages(ticketId) ?? [] : []));
  const [connectionStatus, setConnectionStatus] = useState<ConnectionStatus>('disconnected');
  const [typingPeople, setTypingPeople] = useState<Person[]>([]);
  const [participants, setParticipants] = useState<Participant[]>([]);
  const [ticket, setTicket] = useState<Ticket | null>(null);
  const [currentUser, setCurrentUser] = useState<Person | null>(() => personFromToken(config.token));
  const [limits, setLimits] = useState<Limits | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [uploads, setUploads] = useState<UploadState[]>([]);
  const [hasMore, setHasMore] = useState(true);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [draft, setDraftState] = useState<string>(() => (ticketId ? cache?.getDraft(ticketId) ?? '' : ''));

  const chatRef = useRef<SoporteChatWebSocket | null>(null);
  const meRef = useRef<Person | null>(currentUser);
  meRef.current = currentUser;
  const pendingFiles = useRef<FileUploaded[]>([]);
  const markedRef = useRef<Set<number>>(new Set());
  const markQueue = useRef<Set<number>>(new Set());
  const markTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const draftTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  // Keep the cache in step with what is shown (confirmed messages only).
  useEffect(() => {
    if (!ticketId || !cache) return;
    const handle = setTimeout(() => cache.saveMessages(ticketId, messages), 300);
    return () => clearTimeout(handle);
  }, [messages, ticketId, cache]);

  useEffect(() => {
    if (!ticketId) return;
    let alive = true;
    const typingTimeouts = new Map<number, ReturnType<typeof setTimeout>>();
    const cached = cache?.getMessages(ticketId) ?? [];
    setMessages(cached);
    setDraftState(cache?.getDraft(ticketId) ?? '');
    setTypingPeople([]);
    setParticipants([]);
    setTicket(null);
    setError(null);
    setHasMore(true);
    markedRef.current = new Set();
    pendingFiles.current = [];

    const c = configRef.current;
    const chat = new SoporteChatWebSocket({
      baseUrl: httpToWs(baseUrl),
      apiBase: baseUrl,
      storage: c.storage,
      getToken,
      fetchImpl: c.fetchImpl,
      ...c.client,
    });
    chatRef.current = chat;

    const me = (): Person => meRef.current ?? { id: null, nombre: 'Tú', tipo: 'CLIENTE', avatar: null };
    const optimistic = (m: { client_id: string; mensaje: string; timestamp: string; metadata: Record<string, unknown> }): Message => ({
      client_id: m.client_id,
      timestamp: m.timestamp,
      autor: me(),
      contenido: m.mensaje,
      tipo: 'TEXTO',
      estado: 'ENVIANDO',
      archivos: [],
      metadata: m.metadata,
      interno: m.metadata?.interno === true,
    });

    const applyPendingFiles = (current: Message[]): Message[] => {
      let out = current;
      pendingFiles.current = pendingFiles.current.filter((file) => {
        const next = list.attachFile(out, file);
        if (next === null) return true;
        out = next;
        return false;
      });
      return out;
    };

    chat.on('statusChange', (status: ConnectionStatus) => alive && setConnectionStatus(status));
    chat.on('reconnecting', () => alive && setTypingPeople([]));
    chat.on('connectionEstablished', (data: ConnectionEstablished) => {
      if (!alive) return;
      setError(null);
      setCurrentUser(data.usuario);
      setParticipants(data.participants ?? []);
      setTicket(data.ticket);
      if (data.limites) setLimits(data.limites);
      const stale =
        data.resync === true || (data.since !== null && data.since !== undefined && data.since > data.last_seq);
      setMessages((prev) => {
        const base = stale ? prev.filter((m) => m.id === undefined) : prev;
        return applyPendingFiles(list.mergeMessages(base, data.historial_reciente ?? []));
      });
      if (data.since === null || data.since === undefined || stale) {
        const oldest = list.oldestSeq(data.historial_reciente ?? []);
        setHasMore(oldest !== null && oldest > 1);
      }
    });
    chat.on('messageReceived', (message: Message) => {
      if (!alive) return;
      setMessages((prev) => applyPendingFiles(list.mergeMessages(prev, [message])));
    });
    chat.on('messageConfirmed', (confirmation: MessageConfirmed) => {
      if (!alive) return;
      setMessages((prev) => applyPendingFiles(list.applyConfirmation(prev, confirmation)));
    });
    chat.on('messageFailed', (err: ServerError) => {
      if (!alive || !err.client_id) return;
      setMessages((prev) => list.markFailed(prev, err.client_id!, err.detalle));
    });
    chat.on('messagesRead', (data: MessagesRead) => {
      if (!alive) return;
      // Our own reading (echoed to us) changes nothing we show.
      if (data.lector.id !== null && data.lector.id === meRef.current?.id) return;
      setMessages((prev) => list.markRead(prev, data.message_ids));
    });
    chat.on('userTyping', ({ usuario }: TypingEvent) => {
      if (!alive || usuario.id === null) return;
      setTypingPeople((prev) => (prev.some((p) => p.id === usuario.id) ? prev : [...prev, usuario]));
      const id = usuario.id;
      clearTimeout(typingTimeouts.get(id));
      // The server ends typing after its own timeout; this only guards a lost frame.
      typingTimeouts.set(
        id,
        setTimeout(() => {
          setTypingPeople((prev) => prev.filter((p) => p.id !== id));
          typingTimeouts.delete(id);
        }, (limitsRef.current?.typing_timeout_ms ?? 5000) + 2000),
      );
    });
    chat.on('userStoppedTyping', ({ usuario }: TypingEvent) => {
      if (!alive) return;
      setTypingPeople((prev) => prev.filter((p) => p.id !== usuario.id));
      if (usuario.id !== null) {
        clearTimeout(typingTimeouts.get(usuario.id));
        typingTimeouts.delete(usuario.id);
      }
    });
    chat.on('fileUploaded', (file: FileUploaded) => {
      if (!alive) return;
      setMessages((prev) => {
        const next = list.attachFile(prev, file);
        if (next === null) {
          pendingFiles.current.push(file);
          return prev;
        }
        return next;
      });
    });
    chat.on('chatTransferred', (data: ChatTransferred) => {
      if (!alive) return;
      setParticipants((prev) => {
        const others = prev.filter((p) => p.id !== data.agente_anterior?.id && p.id !== data.nuevo_agente.id);
        return [...others, data.nuevo_agente];
      });
      if (data.mensaje) setMessages((prev) => list.mergeMessages(prev, [data.mensaje]));
    });
    chat.on('ticketUpdated', (data: TicketUpdated) => alive && setTicket(data.ticket));
    chat.on('agentJoined', ({ usuario }: { usuario: Participant }) => {
      if (!alive) return;
      setParticipants((prev) => [...prev.filter((p) => p.id !== usuario.id), usuario]);
    });
    chat.on('agentLeft', ({ usuario }: { usuario: Participant }) => {
      if (!alive) return;
      setParticipants((prev) => prev.map((p) => (p.id === usuario.id ? { ...p, ...usuario } : p)));
    });
    chat.on('refused', (data: { status?: number; detalle?: string; reason?: string }) => {
      if (!alive) return;
      if (data.reason && /transferido/i.test(data.reason)) setError('transferred');
      else setError(`refused:${data.detalle ?? data.reason ?? ''}`);
    });
    chat.on('reconnectionFailed', () => alive && setError('reconnectFailed'));

    const cachedSince = list.newestSeq(cached);
    const cachedNewest = cached.find((m) => m.seq === cachedSince);
    const resumeFrom = cachedSince > 0 ? { since: cachedSince, sinceId: cachedNewest?.id } : {};
    chat.connect(ticketId, undefined, resumeFrom).catch(() => {
      /* status and error come through events */
    });
    // Messages written earlier and still unconfirmed (a reload while offline).
    const restored = chat.pendingMessages().map(optimistic);
    if (restored.length) setMessages((prev) => restored.reduce(list.addPending, prev));
    getToken().then((token) => {
      if (alive && !meRef.current) setCurrentUser(personFromToken(token));
    });

    return () => {
      alive = false;
      typingTimeouts.forEach((t) => clearTimeout(t));
      typingTimeouts.clear();
      if (markTimer.current) clearTimeout(markTimer.current);
      markQueue.current.clear();
      chat.destroy();
      if (chatRef.current === chat) chatRef.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ticketId, baseUrl, cache, getToken]);

  const limitsRef = useRef<Limits | null>(null);
  limitsRef.current = limits;

  /** Sends now, or queues while offline: the message shows at once as ENVIANDO. */
  const sendMessage = useCallback((mensaje: string, metadata: Record<string, unknown> = {}): string | null => {
    const chat = chatRef.current;
    const text = mensaje.trim();
    if (!chat || !text) return null;
    const clientId = generateClientId();
    const message: Message = {
      client_id: clientId,
      timestamp: new Date().toISOString(),
      autor: meRef.current ?? { id: null, nombre: 'Tú', tipo: 'CLIENTE', avatar: null },
      contenido: text,
      tipo: 'TEXTO',
      estado: 'ENVIANDO',
      archivos: [],
      metadata,
      interno: metadata.interno === true,
    };
    // The optimistic copy carries the final client_id from the start.
    setMessages((prev) => list.addPending(prev, message));
    chat.sendMessage(text, metadata, clientId);
    return clientId;
  }, []);

  /** Resends a failed message with its own client_id (the server dedupes). */
  const retryMessage = useCallback((clientId: string) => {
    const chat = chatRef.current;
    if (!chat) return;
    setMessages((prev) => {
      const message = prev.find((m) => m.client_id === clientId && m.id === undefined);
      if (message) chat.sendMessage(message.contenido, message.metadata ?? {}, clientId);
      return list.markSending(prev, clientId);
    });
  }, []);

  const discardMessage = useCallback((clientId: string) => {
    chatRef.current?.discardMessage(clientId);
    setMessages((prev) => prev.filter((m) => !(m.client_id === clientId && m.id === undefined)));
  }, []);

  const startTyping = useCallback(() => chatRef.current?.startTyping(), []);
  const stopTyping = useCallback(() => chatRef.current?.stopTyping(), []);

  const uploadFile = useCallback(
    async (file: File, options: { mensajeId?: number } = {}) => {
      const chat = chatRef.current;
      const c = configRef.current;
      const problem = checkFile(file, c.maxFileSize, c.allowedFileTypes);
      if (problem) throw problem;
      if (!chat || !chat.isConnected()) throw new Error('offline');
      const id = generateClientId();
      setUploads((prev) => [...prev, { id, fileName: file.name, progress: 0 }]);
      try {
        const result = await chat.uploadFile(
          file,
          (p) => setUploads((prev) => prev.map((u) => (u.id === id ? { ...u, progress: p.percent } : u))),
          options,
        );
        // Our own socket also gets file_uploaded; this covers a socket that dropped meanwhile.
        setMessages((prev) => list.attachFile(prev, result) ?? prev);
        // Leave the full bar on screen for a moment: a fast upload still shows it finished.
        setUploads((prev) => prev.map((u) => (u.id === id ? { ...u, progress: 100 } : u)));
        setTimeout(() => setUploads((prev) => prev.filter((u) => u.id !== id)), 800);
        return result;
      } catch (error) {
        setUploads((prev) => prev.filter((u) => u.id !== id));
        throw error;
      }
    },
    [],
  );

  /** Older messages through REST history (scroll-up). */
  const loadOlder = useCallback(async () => {
    if (!ticketId || loadingOlder) return;
    const before = list.oldestSeq(messages);
    if (before === null || before <= 1) {
      setHasMore(false);
      return;
    }
    setLoadingOlder(true);
    try {
      const page = await sync.fetchChatHistory(ticketId, { before, size: configRef.current.pageSize ?? 30 });
      setMessages((prev) => list.mergeMessages(prev, page.results));
      const oldest = list.oldestSeq(page.results);
      setHasMore(page.results.length > 0 && page.next !== null && (oldest ?? 0) > 1);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setLoadingOlder(false);
    }
  }, [ticketId, messages, loadingOlder, sync]);

  /** Reports messages as seen (batched); only others' unread messages are sent. */
  const markRead = useCallback(
    (ids: number[]) => {
      if (!ticketId) return;
      let added = false;
      for (const id of ids) {
        if (markedRef.current.has(id)) continue;
        markedRef.current.add(id);
        markQueue.current.add(id);
        added = true;
      }
      if (!added || markTimer.current) return;
      markTimer.current = setTimeout(() => {
        markTimer.current = null;
        const batch = [...markQueue.current];
        markQueue.current.clear();
        if (batch.length === 0) return;
        sync.markAsRead(ticketId, batch).catch(() => {
          batch.forEach((id) => markedRef.current.delete(id));
        });
      }, 250);
    },
    [ticketId, sync],
  );

  const setDraft = useCallback(
    (value: string) => {
      setDraftState(value);
      if (!ticketId || !cache) return;
      if (draftTimer.current) clearTimeout(draftTimer.current);
      draftTimer.current = setTimeout(() => cache.saveDraft(ticketId, value), 200);
    },
    [ticketId, cache],
  );

  const reconnect = useCallback(() => {
    setError(null);
    chatRef.current?.reconnect()?.catch(() => {});
  }, []);

  const typingUsers = useMemo(() => typingPeople.map((p) => p.id as number), [typingPeople]);
  const uploadProgress = uploads.length ? { progress: uploads[0].progress, fileName: uploads[0].fileName } : null;
  const pendingCount = messages.filter((m) => m.estado === 'ENVIANDO').length;

  /** An authenticated URL for an attachment link or `<img>` (`?token=`). */
  const fileUrl = useCallback((url: string) => {
    const token = tokenRef.current;
    if (!token) return url;
    return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
  }, []);

  return {
    messages,
    connectionStatus,
    typingUsers,
    typingPeople,
    participants,
    ticket,
    currentUser,
    limits,
    error,
    uploadProgress,
    uploads,
    isConnected: connectionStatus === 'connected',
    hasMore,
    loadingOlder,
    pendingCount,
    draft,
    sendMessage,
    startTyping,
    stopTyping,
    uploadFile,
    retryMessage,
    discardMessage,
    loadOlder,
    markRead,
    setDraft,
    fileUrl,
    clearError: () => setError(null),
    reconnect,
    sync,
  };
}

export type ChatSoporteState = ReturnType<typeof useChatSoporte>;
