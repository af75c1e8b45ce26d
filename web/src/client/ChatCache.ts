import type { KeyValueStorage, Message } from './types';
import { defaultStorage } from './util';

/** A ticket's messages as stored: the seed's shape (web/README.md, "Cache format"). */
interface StoredMessages {
  messages: Message[];
  timestamp: number;
  ticketId: number | string;
  /** The ticket's revision of edits these messages reflect (added to the seed's shape). */
  rev?: number;
}

/** A draft as stored: the seed's shape. */
interface StoredDraft {
  message: string;
  timestamp: number;
}

/** What 0.1.0 wrote, read so that an existing cache survives the update. */
interface LegacyEntry<T> {
  value: T;
  timestamp: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * Local cache of each ticket's confirmed messages (instant first paint, and
 * the `since` to resume from) and of drafts, in localStorage, in the seed's
 * format: `chat_soporte_messages_{ticket}` holds `{messages, timestamp,
 * ticketId}` and `chat_soporte_draft_{ticket}` holds `{message, timestamp}`.
 * Unlike the seed, only confirmed messages (with `id` and `seq`) are kept, the
 * newest `maxMessages` of them: an unconfirmed one lives in the outbox. Every
 * call swallows storage errors: a full or blocked storage only costs the cache.
 */
export class ChatCache {
  readonly prefix = 'chat_soporte_';

  constructor(
    private readonly storage: KeyValueStorage | null = defaultStorage(),
    private readonly maxAge = 24 * 60 * 60 * 1000,
    private readonly maxMessages = 200,
    private readonly draftMaxAge = 60 * 60 * 1000,
  ) {}

  /** The stored entry and its time, or null when missing, unreadable or older than `maxAge` (then removed). */
  private read(key: string, maxAge: number): Record<string, unknown> | null {
    if (!this.storage) return null;
    try {
      const raw = this.storage.getItem(this.prefix + key);
      const stored: unknown = raw ? JSON.parse(raw) : null;
      if (!isObject(stored) || typeof stored.timestamp !== 'number') return null;
      if (Date.now() - stored.timestamp > maxAge) {
        this.remove(key);
        return null;
      }
      return stored;
    } catch {
      return null;
    }
  }

  private write(key: string, value: StoredMessages | StoredDraft): void {
    try {
      this.storage?.setItem(this.prefix + key, JSON.stringify(value));
    } catch {
      /* storage full or blocked */
    }
  }

  private remove(key: string): void {
    try {
      this.storage?.removeItem(this.prefix + key);
    } catch {
      /* ignore */
    }
  }

  /** Keeps the newest confirmed messages (those with an `id` and a `seq`). */
  saveMessages(ticketId: number | string, messages: readonly Message[], rev?: number | null): void {
    const confirmed = messages.filter((m) => typeof m.seq === 'number' && m.id !== undefined);
    const entry: StoredMessages = { messages: confirmed.slice(-this.maxMessages), timestamp: Date.now(), ticketId };
    if (typeof rev === 'number') entry.rev = rev;
    this.write(`messages_${ticketId}`, entry);
  }

  /** The revision stored with the messages, or null (none, or a cache from before revisions). */
  getRev(ticketId: number | string): number | null {
    const rev = this.read(`messages_${ticketId}`, this.maxAge)?.rev;
    return typeof rev === 'number' ? rev : null;
  }

  getMessages(ticketId: number | string): Message[] | null {
    const stored = this.read(`messages_${ticketId}`, this.maxAge);
    const messages = stored?.messages ?? (stored as Partial<LegacyEntry<unknown>> | null)?.value;
    return Array.isArray(messages) ? (messages as Message[]) : null;
  }

  clearMessages(ticketId: number | string): void {
    this.remove(`messages_${ticketId}`);
  }

  saveDraft(ticketId: number | string, message: string): void {
    if (message) this.write(`draft_${ticketId}`, { message, timestamp: Date.now() });
    else this.clearDraft(ticketId);
  }

  getDraft(ticketId: number | string): string | null {
    const stored = this.read(`draft_${ticketId}`, this.draftMaxAge);
    const message = stored?.message ?? (stored as Partial<LegacyEntry<unknown>> | null)?.value;
    return typeof message === 'string' ? message : null;
  }

  clearDraft(ticketId: number | string): void {
    this.remove(`draft_${ticketId}`);
  }

  /** Removes every entry of this cache (the keys under `prefix`). */
  clearAll(): void {
    if (!this.storage) return;
    try {
      const storage = this.storage as Partial<Storage>;
      const keys: string[] = [];
      for (let i = 0; typeof storage.key === 'function' && i < (storage.length ?? 0); i++) {
        const key = storage.key(i);
        if (key?.startsWith(this.prefix)) keys.push(key);
      }
      keys.forEach((k) => this.storage!.removeItem(k));
    } catch {
      /* ignore */
    }
  }
}
