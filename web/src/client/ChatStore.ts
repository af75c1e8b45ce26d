import { ChatCache } from './ChatCache';
import { ApiError, ChatSync } from './ChatSync';
import { applyGreeting, applyPresence, applyTransfer, attachWaiting, initialChatState, isFinalError, optimisticMessage, refusalError, type ChatState } from './chatState';
import * as list from './messages';
import type { OutgoingMessage } from './outbox';
import { SoporteChatWebSocket, type SoporteChatConfig } from './SoporteChatWebSocket';
import { StateStore } from './StateStore';
import { personFromToken, storedAuthToken } from './token';
import type { FileUploaded, KeyValueStorage, Person, TicketState, TokenSource } from './types';
import { checkFile, OfflineError } from './uploadChecks';
import { generateClientId, httpToWs, pageOrigin, resolveToken } from './util';

export interface ChatStoreConfig {
  ticketId: number;
  /** Server base URL (`http://host:port`). Default: the page's origin. */
  baseUrl?: string;
  /** A token, or a function returning the current one. Without it (and `getToken`), localStorage `authToken`, as in the seed. */
  token?: TokenSource;
  /** Lets the host refresh an expiring token (see `SoporteChatConfig.getToken`); REST calls use it too. */
  getToken?: () => string | Promise<string>;
  /** Who the user is until the server's greeting says (default: read from a string `token`). */
  currentUser?: Person | null;
  /** Message cache (first paint, `since`, drafts). Default: a `ChatCache` on localStorage; `null`: none. */
  cache?: ChatCache | null;
  /** Where the outgoing queue lives (default localStorage); `null`: memory only. */
  storage?: KeyValueStorage | null;
  /** Checked before an upload is even requested. */
  maxFileSize?: number;
  allowedFileTypes?: string[];
  /** Messages per page when scrolling back. Default 30. */
  pageSize?: number;
  /** Extra settings for the socket client (backoff, heartbeat, test doubles). */
  client?: Partial<SoporteChatConfig>;
  fetchImpl?: typeof fetch;
  /** Read the team's business hours at each greeting (default true; `state.hours`). */
  hours?: boolean;
  /** Read the user's profile at the first greeting (default true; `state.profile`). */
  profile?: boolean;
  /** A customer's ticket waiting for an agent: read its place in the queue while it waits (default true; `state.queue`). */
  queue?: boolean;
}

/** How often a waiting customer's place in the queue is read again. */
const QUEUE_POLL_MS = 15_000;
/** How long a finished upload's full bar stays, so a fast upload still shows it finished. */
const UPLOAD_DONE_MS = 800;
/** Mark-read ids are sent together after this pause. */
const MARK_READ_BATCH_MS = 250;
const DRAFT_SAVE_MS = 200;
const CACHE_SAVE_MS = 300;
/** The server ends typing itself; this only guards a lost `usuario_dejo_escribir`. */
const TYPING_GRACE_MS = 2000;

/**
 * The state of one ticket's chat, owned outside any UI framework: messages
 * (optimistic ENVIANDO → ENTREGADO → LEIDO, or ERROR with retry), participants,
 * who is typing, the ticket, limits, uploads, the connection and the outbox,
 * as immutable snapshots (`getState`/`subscribe`, for useSyncExternalStore).
 * It listens to a `SoporteChatWebSocket` and offers the actions a chat window
 * needs. `connect`/`disconnect` may alternate (React StrictMode); `destroy`
 * ends it.
 */
export class ChatStore {
  readonly chat: SoporteChatWebSocket;
  readonly sync: ChatSync;
  private readonly store: StateStore<ChatState>;
  private readonly cache: ChatCache | null;
  private lastToken: string | null = null;
  /** `file_uploaded` frames whose message has not arrived yet. */
  private waitingFiles: FileUploaded[] = [];
  private readonly typingTimers = new Map<number, ReturnType<typeof setTimeout>>();
  /** Ids reported read (or about to be): never sent twice. */
  private readonly marked = new Set<number>();
  private markQueue = new Set<number>();
  private markTimer: ReturnType<typeof setTimeout> | null = null;
  private queueTimer: ReturnType<typeof setTimeout> | null = null;
  private draftTimer: ReturnType<typeof setTimeout> | null = null;
  private cacheTimer: ReturnType<typeof setTimeout> | null = null;
  /** The list the cache holds, so only a changed list is written. */
  private cachedMessages: ChatState['messages'];
  private readonly uploadTimers = new Set<ReturnType<typeof setTimeout>>();

  constructor(private readonly config: ChatStoreConfig) {
    const { ticketId } = config;
    const baseUrl = (config.baseUrl ?? pageOrigin()).replace(/\/$/, '');
    this.cache = config.cache === undefined ? new ChatCache() : config.cache;
    const tokenSource = config.token;
    this.store = new StateStore(
      initialChatState(ticketId, {
        messages: this.cache?.getMessages(ticketId) ?? [],
        draft: this.cache?.getDraft(ticketId) ?? '',
        rev: this.cache?.getRev(ticketId) ?? null,
        currentUser: config.currentUser ?? (typeof tokenSource === 'string' ? personFromToken(tokenSource) : null),
      }),
    );
    this.cachedMessages = this.state.messages;
    this.sync = new ChatSync({ baseUrl, getToken: () => this.currentToken(), fetchImpl: config.fetchImpl });
    this.chat = new SoporteChatWebSocket({
      baseUrl: httpToWs(baseUrl),
      apiBase: baseUrl,
      storage: config.storage,
      // Only a host's own getToken makes a 401 worth retrying.
      getToken: config.getToken ? () => this.currentToken() : undefined,
      fetchImpl: config.fetchImpl,
      ...config.client,
    });
    this.listen();
    this.store.subscribe(() => this.scheduleCacheSave());
  }

  getState = (): ChatState => this.store.getState();

  subscribe = (listener: () => void): (() => void) => this.store.subscribe(listener);

  private get state(): ChatState {
    return this.store.getState();
  }

  private set(patch: Partial<ChatState> | ((state: ChatState) => Partial<ChatState>)): void {
    this.store.set(patch);
  }

  /**
   * The token for the next connection or REST call; remembered for `fileUrl`,
   * and read for who the user is until the greeting says.
   */
  private async currentToken(): Promise<string> {
    const { getToken, token } = this.config;
    const value = getToken ? await getToken() : ((await resolveToken(token)) ?? storedAuthToken() ?? '');
    this.lastToken = value;
    if (!this.state.currentUser) this.set({ currentUser: personFromToken(value) });
    return value;
  }

  private me(): Person | null {
    return this.state.currentUser;
  }

  private refreshOutbox(): void {
    this.set({ outbox: this.chat.pendingMessages() });
  }

  private setMessages(fn: (messages: ChatState['messages']) => ChatState['messages']): void {
    this.set((state) => {
      const [messages, waiting] = attachWaiting(fn(state.messages), this.waitingFiles);
      this.waitingFiles = waiting;
      return { messages };
    });
  }

  private listen(): void {
    const chat = this.chat;
    chat.on('statusChange', (connection) => this.set({ connection }));
    chat.on('reconnecting', () => this.clearTyping());
    chat.on('connectionEstablished', (data) => {
      this.set((state) => {
        const patch = applyGreeting(state, data);
        const [messages, waiting] = attachWaiting(patch.messages ?? state.messages, this.waitingFiles);
        this.waitingFiles = waiting;
        return { ...patch, messages, outbox: this.chat.pendingMessages() };
      });
      if (this.config.hours !== false) this.refreshHours();
      if (this.config.profile !== false && !this.store.getState().profile) this.refreshProfile();
      this.refreshQueue();
    });
    chat.on('messageReceived', (message) => {
      const known = this.state.messages.some((m) => m.id !== undefined && m.id === message.id);
      this.setMessages((messages) => list.mergeMessages(messages, [message]));
      const own = message.autor.id !== null && message.autor.id === this.me()?.id;
      if (!known && !own && message.autor.tipo !== 'SISTEMA') {
        this.set((state) => ({ arrivals: { count: state.arrivals.count + 1, last: message } }));
      }
    });
    chat.on('messageUpdated', ({ mensaje }) => this.setMessages((messages) => list.applyUpdates(messages, [mensaje])));
    chat.on('messageConfirmed', (confirmation) => {
      this.setMessages((messages) => list.applyConfirmation(messages, confirmation));
      this.refreshOutbox();
    });
    chat.on('messageFailed', (error) => {
      if (error.client_id) this.setMessages((messages) => list.markFailed(messages, error.client_id!, error.detalle, error.codigo));
      this.refreshOutbox();
    });
    chat.on('messagesRead', (data) => {
      // Our own reading, echoed to us, changes nothing we show.
      if (data.lector.id !== null && data.lector.id === this.me()?.id) return;
      this.set((state) => ({ messages: list.markRead(state.messages, data.message_ids) }));
    });
    chat.on('userTyping', ({ usuario }) => this.startedTyping(usuario));
    chat.on('userStoppedTyping', ({ usuario }) => this.stoppedTyping(usuario));
    chat.on('fileUploaded', (file) => {
      this.waitingFiles = [...this.waitingFiles, file];
      this.setMessages((messages) => messages);
    });
    chat.on('chatTransferred', (data) => this.set((state) => applyTransfer(state, data)));
    chat.on('ticketUpdated', ({ ticket }) => {
      this.set({ ticket });
      this.refreshQueue();
    });
    chat.on('agentJoined', ({ usuario }) => this.set((state) => ({ participants: applyPresence(state.participants, usuario, true) })));
    chat.on('agentLeft', ({ usuario }) => this.set((state) => ({ participants: applyPresence(state.participants, usuario, false) })));
    chat.on('customerJoined', ({ usuario }) => this.set((state) => ({ participants: applyPresence(state.participants, usuario, true) })));
    chat.on('customerLeft', ({ usuario }) => this.set((state) => ({ participants: applyPresence(state.participants, usuario, false) })));
    chat.on('refused', (refusal) => this.set({ error: refusalError(refusal) }));
    chat.on('reconnectionFailed', ({ attempts }) => this.set({ error: { kind: 'reconnectFailed', attempts } }));
  }

  private startedTyping(who: Person): void {
    const id = who.id;
    if (id === null) return;
    this.set((state) => (state.typing.some((p) => p.id === id) ? {} : { typing: [...state.typing, who] }));
    clearTimeout(this.typingTimers.get(id));
    const timeout = (this.state.limits?.typing_timeout_ms ?? 5000) + TYPING_GRACE_MS;
    this.typingTimers.set(id, setTimeout(() => this.stoppedTyping(who), timeout));
  }

  private stoppedTyping(who: Person): void {
    if (who.id !== null) {
      clearTimeout(this.typingTimers.get(who.id));
      this.typingTimers.delete(who.id);
    }
    this.set((state) => (state.typing.some((p) => p.id === who.id) ? { typing: state.typing.filter((p) => p.id !== who.id) } : {}));
  }

  private clearTyping(): void {
    this.typingTimers.forEach((timer) => clearTimeout(timer));
    this.typingTimers.clear();
    this.set({ typing: [] });
  }

  /**
   * Opens the socket, resuming after the newest cached message, and shows the
   * messages still queued from an earlier visit (a reload while offline).
   */
  connect(): void {
    const { ticketId } = this.config;
    const since = list.newestSeq(this.state.messages);
    const sinceId = this.state.messages.find((m) => m.seq === since)?.id;
    const rev = this.state.rev ?? undefined;
    this.chat.connect(ticketId, () => this.currentToken(), since > 0 ? { since, sinceId, rev } : {}).catch(() => {
      /* status and error come through events */
    });
    const restored = this.chat.pendingMessages();
    if (restored.length) this.set((state) => ({ messages: restored.map((m) => optimisticMessage(m, state.currentUser)).reduce(list.addPending, state.messages) }));
    this.refreshOutbox();
  }

  /** Closes the socket and stops every timer; pending writes to the cache are done now. `connect` starts again. */
  disconnect(): void {
    this.chat.disconnect();
    if (this.queueTimer) clearTimeout(this.queueTimer);
    this.queueTimer = null;
    this.clearTyping();
    if (this.markTimer) clearTimeout(this.markTimer);
    this.markTimer = null;
    // Ids queued but never sent are marked again next time they are seen.
    this.markQueue.forEach((id) => this.marked.delete(id));
    this.markQueue.clear();
    this.uploadTimers.forEach((timer) => clearTimeout(timer));
    this.uploadTimers.clear();
    this.flushDraft();
    this.flushCache();
  }

  destroy(): void {
    this.disconnect();
    this.chat.destroy();
  }

  /** Sends now, or queues while offline: the message shows at once as ENVIANDO. Returns its `client_id`. */
  sendMessage(text: string, metadata: Record<string, unknown> = {}): string | null {
    const mensaje = text.trim();
    // After a final refusal nothing would ever send it: not queued at all.
    if (!mensaje || isFinalError(this.state.error)) return null;
    const outgoing: OutgoingMessage = { client_id: generateClientId(), mensaje, timestamp: new Date().toISOString(), metadata };
    const replyTo = this.state.replyTo ?? undefined;
    if (replyTo !== undefined) outgoing.reply_to = replyTo;
    this.set((state) => ({ messages: list.addPending(state.messages, optimisticMessage(outgoing, state.currentUser)), replyTo: null }));
    this.chat.sendMessage(mensaje, metadata, outgoing.client_id, replyTo);
    this.refreshOutbox();
    return outgoing.client_id;
  }

  /** Resends a failed message with its own `client_id` (the server dedupes). */
  retryMessage(clientId: string): void {
    const message = this.state.messages.find((m) => m.client_id === clientId && m.id === undefined);
    if (!message) return;
    this.set((state) => ({ messages: list.markSending(state.messages, clientId) }));
    this.chat.sendMessage(message.contenido, message.metadata ?? {}, clientId, message.replyTo ?? undefined);
    this.refreshOutbox();
  }

  /** The next message answers `messageId` (null: none); shown quoted above the composer. */
  setReplyTo(messageId: number | null): void {
    this.set({ replyTo: messageId });
  }

  /**
   * A new text for one of the user's messages. Rejects with an `ApiError`
   * whose `codigo` says why (`fuera_de_plazo`, `no_es_autor`, …); every
   * connection, this one included, also gets the change live.
   */
  async editMessage(messageId: number, text: string): Promise<void> {
    const updated = await this.sync.editMessage(this.config.ticketId, messageId, text.trim());
    this.setMessages((messages) => list.applyUpdates(messages, [updated]));
  }

  /** Deletes a message (the user's own; staff: anyone's). */
  async deleteMessage(messageId: number): Promise<void> {
    const updated = await this.sync.deleteMessage(this.config.ticketId, messageId);
    this.setMessages((messages) => list.applyUpdates(messages, [updated]));
  }

  /** Gives up on an unconfirmed message: it leaves the list and the outbox. */
  discardMessage(clientId: string): void {
    this.chat.discardMessage(clientId);
    this.set((state) => ({ messages: state.messages.filter((m) => !(m.client_id === clientId && m.id === undefined)) }));
    this.refreshOutbox();
  }

  startTyping(): void {
    this.chat.startTyping();
  }

  stopTyping(): void {
    this.chat.stopTyping();
  }

  /**
   * Checks the file, asks for a grant and uploads it with progress in
   * `uploads`. Throws `FileCheckError` before sending anything, `OfflineError`
   * while not connected.
   */
  async uploadFile(file: File, options: { mensajeId?: number } = {}): Promise<FileUploaded> {
    const problem = checkFile(file, this.config.maxFileSize, this.config.allowedFileTypes);
    if (problem) throw problem;
    if (!this.chat.isConnected()) throw new OfflineError();
    const id = generateClientId();
    const progress = (value: number) => this.set((state) => ({ uploads: state.uploads.map((u) => (u.id === id ? { ...u, progress: value } : u)) }));
    this.set((state) => ({ uploads: [...state.uploads, { id, fileName: file.name, progress: 0 }] }));
    try {
      const result = await this.chat.uploadFile(file, (p) => progress(p.percent), options);
      // Our own socket also gets file_uploaded; this covers a socket that dropped meanwhile.
      this.set((state) => ({ messages: list.attachFile(state.messages, result) ?? state.messages }));
      progress(100);
      const timer = setTimeout(() => {
        this.uploadTimers.delete(timer);
        this.set((state) => ({ uploads: state.uploads.filter((u) => u.id !== id) }));
      }, UPLOAD_DONE_MS);
      this.uploadTimers.add(timer);
      return result;
    } catch (error) {
      this.set((state) => ({ uploads: state.uploads.filter((u) => u.id !== id) }));
      throw error;
    }
  }

  /** Older messages through REST history, before the oldest held (scroll-up). */
  async loadOlder(): Promise<void> {
    if (this.state.loadingOlder) return;
    const before = list.oldestSeq(this.state.messages);
    if (before === null || before <= 1) return this.set({ hasMore: false });
    this.set({ loadingOlder: true });
    try {
      const page = await this.sync.fetchChatHistory(this.config.ticketId, { before, size: this.config.pageSize ?? 30 });
      const oldest = list.oldestSeq(page.results);
      this.set((state) => ({
        messages: list.mergeMessages(state.messages, page.results),
        hasMore: page.results.length > 0 && page.next !== null && (oldest ?? 0) > 1,
      }));
    } catch (error) {
      this.set({ error: { kind: 'history', detalle: error instanceof Error ? error.message : String(error) } });
    } finally {
      this.set({ loadingOlder: false });
    }
  }

  /** Reports messages as seen, in batches; an id is sent once (again only if its call failed). */
  markRead(ids: readonly number[]): void {
    const fresh = ids.filter((id) => !this.marked.has(id));
    if (fresh.length === 0) return;
    for (const id of fresh) {
      this.marked.add(id);
      this.markQueue.add(id);
    }
    // Seen now, for the unread count; LEIDO on others' messages is the reader's own reading.
    this.set((state) => ({ messages: list.markRead(state.messages, fresh) }));
    this.markTimer ??= setTimeout(() => {
      this.markTimer = null;
      const batch = [...this.markQueue];
      this.markQueue.clear();
      this.sync.markAsRead(this.config.ticketId, batch).catch(() => {
        batch.forEach((id) => this.marked.delete(id));
        this.set((state) => ({ messages: list.markUnread(state.messages, batch) }));
      });
    }, MARK_READ_BATCH_MS);
  }

  /** The composer's text, kept per ticket in the cache. */
  setDraft(draft: string): void {
    this.set({ draft });
    if (!this.cache) return;
    if (this.draftTimer) clearTimeout(this.draftTimer);
    this.draftTimer = setTimeout(() => this.flushDraft(), DRAFT_SAVE_MS);
  }

  private flushDraft(): void {
    if (!this.draftTimer) return;
    clearTimeout(this.draftTimer);
    this.draftTimer = null;
    this.cache?.saveDraft(this.config.ticketId, this.state.draft);
  }

  private scheduleCacheSave(): void {
    if (!this.cache || this.cacheTimer || this.state.messages === this.cachedMessages) return;
    this.cacheTimer = setTimeout(() => this.flushCache(), CACHE_SAVE_MS);
  }

  private flushCache(): void {
    if (!this.cacheTimer) return;
    clearTimeout(this.cacheTimer);
    this.cacheTimer = null;
    this.cachedMessages = this.state.messages;
    this.cache?.saveMessages(this.config.ticketId, this.state.messages, this.state.rev);
  }

  /** Reconnect now, from attempt zero (the "reconnect" button). */
  reconnect(): void {
    this.set({ error: null });
    this.chat.reconnect()?.catch(() => {});
  }

  clearError(): void {
    this.set({ error: null });
  }

  /**
   * The customer rates the ticket, 1 to 5 (CSAT). A 409 means it is rated
   * already (another tab did): the ticket is read again, so the prompt goes.
   */
  async rate(puntuacion: number, comentario?: string): Promise<void> {
    const id = this.config.ticketId;
    try {
      const csat = await this.sync.rateTicket(id, puntuacion, comentario?.trim() || undefined);
      this.set((state) => ({ ticket: state.ticket ? { ...state.ticket, csat } : state.ticket }));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 409)) throw error;
      this.set({ ticket: await this.sync.getTicket(id) });
    }
  }

  /** Reads the team's hours again; on failure the last ones stay. */
  private refreshHours(): void {
    this.sync.getHours().then(
      (hours) => this.set({ hours }),
      () => {},
    );
  }

  /**
   * While the customer's ticket waits for an agent, reads its place in the
   * queue now and every QUEUE_POLL_MS (the place moves as others are taken);
   * once an agent has it, the place is gone.
   */
  private refreshQueue(): void {
    if (this.queueTimer) clearTimeout(this.queueTimer);
    this.queueTimer = null;
    const { ticket, currentUser } = this.state;
    const waiting = ticket?.estado === 'ABIERTO' && !ticket.agente && currentUser?.tipo === 'CLIENTE';
    if (this.config.queue === false || !waiting) {
      if (this.state.queue) this.set({ queue: null });
      return;
    }
    this.sync.getQueue(this.config.ticketId).then(
      (queue) => {
        const still = this.state.ticket?.estado === 'ABIERTO' && !this.state.ticket.agente;
        this.set({ queue: still ? queue : null });
      },
      () => {},
    );
    this.queueTimer = setTimeout(() => this.refreshQueue(), QUEUE_POLL_MS);
  }

  /** Reads who the user is to the server; on failure it stays unknown. */
  private refreshProfile(): void {
    this.sync.getMe().then(
      (profile) => this.set({ profile }),
      () => {},
    );
  }

  /** Saves the address the user wants to be emailed at. */
  async saveEmail(email: string): Promise<void> {
    this.set({ profile: await this.sync.setMyEmail(email.trim()) });
  }

  /**
   * Emails the conversation to the customer, at `email` when given (then
   * it becomes theirs); resolves to the address it goes to.
   */
  async requestTranscript(email?: string): Promise<string> {
    const given = email?.trim() || undefined;
    const { para } = await this.sync.requestTranscript(this.config.ticketId, given);
    this.set((state) => ({ profile: state.profile ? { ...state.profile, email: para } : state.profile }));
    return para;
  }

  /** Moves the ticket to `estado` (a customer may resolve or close it). */
  async setTicketState(estado: TicketState): Promise<void> {
    this.set({ ticket: await this.sync.setEstado(this.config.ticketId, estado) });
  }

  /** An authenticated URL for an attachment link or `<img>` (`?token=`). */
  fileUrl(url: string): string {
    const token = this.lastToken;
    if (!token) return url;
    return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
  }
}
