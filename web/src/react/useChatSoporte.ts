import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { ChatCache } from '../client/ChatCache';
import { initialChatState, type ChatState } from '../client/chatState';
import { ChatStore, type ChatStoreConfig } from '../client/ChatStore';
import type { SoporteChatConfig } from '../client/SoporteChatWebSocket';
import { personFromToken, storedAuthToken } from '../client/token';
import type { FileUploaded, KeyValueStorage, MessageHistory, TicketState } from '../client/types';
import { pageOrigin } from '../client/util';

export interface UseChatConfig {
  /** The JWT. Without it (and without `getToken`), localStorage `authToken` is used, as in the seed. */
  token?: string;
  /** Lets the host refresh an expiring token (see `SoporteChatConfig.getToken`). */
  getToken?: () => string | Promise<string>;
  /** Server base URL (`http://host:port`). Default: the page's origin. */
  baseUrl?: string;
  /** Message cache (first paint, `since`); `null` turns it off. Taken once. */
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
  /** Read the team's business hours (default true). Taken once. */
  hours?: boolean;
  /** Read the user's profile: their email, whether the server emails (default true). Taken once. */
  profile?: boolean;
  /** Read a waiting customer's place in the queue (default true). Taken once. */
  queue?: boolean;
}

const noTicket = initialChatState(0, { hasMore: false });
const noStore = { getState: () => noTicket, subscribe: () => () => {} };

/**
 * The seed's `useChatSoporte`, as a binding of a `ChatStore` (which owns the
 * state and the socket) to React through useSyncExternalStore. One store per
 * ticket and server; it connects in an effect and disconnects in its cleanup,
 * so StrictMode's double effects are harmless.
 */
export function useChatSoporte(ticketId: number | null | undefined, config: UseChatConfig = {}) {
  // Taken once: an inline `new ChatCache()` in the caller must not restart the chat.
  const [cache] = useState<ChatCache | null>(() => (config.cache === undefined ? new ChatCache() : config.cache));
  const configRef = useRef(config);
  configRef.current = config;
  const baseUrl = (config.baseUrl ?? pageOrigin()).replace(/\/$/, '');
  const hasGetToken = config.getToken !== undefined;

  const store = useMemo(() => {
    if (!ticketId) return null;
    const c = configRef.current;
    // Getters: the store reads the caller's latest token and limits at the moment it needs them.
    const storeConfig: ChatStoreConfig = {
      ticketId,
      baseUrl,
      cache,
      storage: c.storage,
      client: c.client,
      hours: c.hours,
      profile: c.profile,
      queue: c.queue,
      currentUser: personFromToken(c.token ?? storedAuthToken()),
      token: () => configRef.current.token ?? storedAuthToken() ?? '',
      getToken: hasGetToken ? async () => (await configRef.current.getToken?.()) ?? '' : undefined,
      fetchImpl: (input, init) => (configRef.current.fetchImpl ?? fetch)(input, init),
      get maxFileSize() {
        return configRef.current.maxFileSize;
      },
      get allowedFileTypes() {
        return configRef.current.allowedFileTypes;
      },
      get pageSize() {
        return configRef.current.pageSize;
      },
    };
    return new ChatStore(storeConfig);
  }, [ticketId, baseUrl, cache, hasGetToken]);

  useEffect(() => {
    if (!store) return;
    store.connect();
    return () => store.disconnect();
  }, [store]);

  const source = store ?? noStore;
  const state: ChatState = useSyncExternalStore(source.subscribe, source.getState, source.getState);
  const actions = useMemo(() => bindActions(store), [store]);
  const typingUsers = useMemo(() => state.typing.flatMap((p) => (p.id === null ? [] : [p.id])), [state.typing]);
  const upload = state.uploads[0];

  return {
    ...state,
    ...actions,
    connectionStatus: state.connection,
    typingPeople: state.typing,
    typingUsers,
    uploadProgress: upload ? { progress: upload.progress, fileName: upload.fileName } : null,
    isConnected: state.connection === 'connected',
    pendingCount: state.outbox.length,
    store,
    sync: store?.sync ?? null,
  };
}

/** The store's actions as stable functions (no-ops without a ticket). */
function bindActions(store: ChatStore | null) {
  return {
    sendMessage: (text: string, metadata?: Record<string, unknown>) => store?.sendMessage(text, metadata) ?? null,
    retryMessage: (clientId: string) => store?.retryMessage(clientId),
    discardMessage: (clientId: string) => store?.discardMessage(clientId),
    startTyping: () => store?.startTyping(),
    stopTyping: () => store?.stopTyping(),
    uploadFile: (file: File, options?: { mensajeId?: number }): Promise<FileUploaded> =>
      store ? store.uploadFile(file, options) : Promise.reject(new Error('Sin ticket')),
    loadOlder: () => store?.loadOlder() ?? Promise.resolve(),
    markRead: (ids: readonly number[]) => store?.markRead(ids),
    setDraft: (draft: string) => store?.setDraft(draft),
    reconnect: () => store?.reconnect(),
    clearError: () => store?.clearError(),
    fileUrl: (url: string) => store?.fileUrl(url) ?? url,
    rate: (puntuacion: number, comentario?: string) => store?.rate(puntuacion, comentario) ?? Promise.resolve(),
    setTicketState: (estado: TicketState) => store?.setTicketState(estado) ?? Promise.resolve(),
    saveEmail: (email: string) => store?.saveEmail(email) ?? Promise.resolve(),
    requestTranscript: (email?: string) => store?.requestTranscript(email) ?? Promise.reject(new Error('Sin ticket')),
    setReplyTo: (messageId: number | null) => store?.setReplyTo(messageId),
    editMessage: (messageId: number, text: string) => store?.editMessage(messageId, text) ?? Promise.reject(new Error('Sin ticket')),
    deleteMessage: (messageId: number) => store?.deleteMessage(messageId) ?? Promise.reject(new Error('Sin ticket')),
    messageVersions: (messageId: number): Promise<MessageHistory> =>
      store ? store.sync.messageVersions(store.getState().ticketId, messageId) : Promise.reject(new Error('Sin ticket')),
  };
}

export type ChatSoporteState = ReturnType<typeof useChatSoporte>;
