import type { KeyValueStorage, Message } from './types';
import { defaultStorage } from './util';

interface Stored<T> {
  value: T;
  timestamp: number;
}

/**
 * Local cache of each ticket's confirmed messages (instant first paint, and the
 * `since` to resume from) and of drafts, in localStorage. Every call swallows
 * storage errors: a full or blocked storage only costs the cache.
 */
export class ChatCache {
  readonly prefix = 'chat_soporte_';

  constructor(
    private readonly storage: KeyValueStorage | null = defaultStorage(),
    private readonly maxAge = 24 * 60 * 60 * 1000,
    private readonly maxMessages = 200,
    private readonly draftMaxAge = 60 * 60 * 1000,
  ) {}

  private read<T>(key: string, maxAge: number): T | null {
    if (!this.storage) return null;
    try {
      const raw = this.storage.getItem(this.prefix + key);
      if (!raw) return null;
      const stored = JSON.parse(raw) as Stored<T>;
      if (Date.now() - stored.timestamp > maxAge) {
        this.storage.removeItem(this.prefix + key);
        return null;
      }
      return stored.value;
    } catch {
      return null;
    }
  }

  private write<T>(key: string, value: T): void {
    if (!this.storage) return;
    try {
      this.storage.setItem(this.prefix + key, JSON.stringify({ value, timestamp: Date.now() }));
    } catch {
      /* ignore */
    }
  }

  private remove(key: string): void {
    try {
      this.storage?.removeItem(this.prefix + key);
    } catch {
      /* ignore */
    }
  }

  /** Keeps the newest confirmed messages (those with a `seq`). */
  saveMessages(ticketId: number | string, messages: readonly Message[]): void {
    const confirmed = messages.filter((m) => typeof m.seq === 'number' && m.id !== undefined);
    this.write(`messages_${ticketId}`, confirmed.slice(-this.maxMessages));
  }

  getMessages(ticketId: number | string): Message[] | null {
    return this.read<Message[]>(`messages_${ticketId}`, this.maxAge);
  }

  clearMessages(ticketId: number | string): void {
    this.remove(`messages_${ticketId}`);
  }

  saveDraft(ticketId: number | string, message: string): void {
    if (message) this.write(`draft_${ticketId}`, message);
    else this.clearDraft(ticketId);
  }

  getDraft(ticketId: number | string): string | null {
    return this.read<string>(`draft_${ticketId}`, this.draftMaxAge);
  }

  clearDraft(ticketId: number | string): void {
    this.remove(`draft_${ticketId}`);
  }

  clearAll(): void {
    if (!this.storage) return;
    try {
      const keys: string[] = [];
      const s = this.storage as Storage;
      for (let i = 0; typeof s.key === 'function' && i < s.length; i++) {
        const key = s.key(i);
        if (key?.startsWith(this.prefix)) keys.push(key);
      }
      keys.forEach((k) => this.storage!.removeItem(k));
    } catch {
      /* ignore */
    }
  }
}
