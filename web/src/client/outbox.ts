import type { KeyValueStorage } from './types';

/** A message written but not yet confirmed by the server. */
export interface OutgoingMessage {
  client_id: string;
  mensaje: string;
  timestamp: string;
  metadata: Record<string, unknown>;
  /** The earlier message it answers. */
  reply_to?: number;
}

/**
 * The outgoing queue of one ticket, kept in storage so that a message written
 * offline survives a page reload. An entry leaves only when the server confirms
 * it (or refuses it for good); until then it is resent, always with the same
 * `client_id`, which the server dedupes.
 */
export class Outbox {
  private items: OutgoingMessage[] = [];

  constructor(
    private readonly storage: KeyValueStorage | null,
    private readonly key: string,
  ) {
    this.items = this.load();
  }

  private load(): OutgoingMessage[] {
    if (!this.storage) return [];
    try {
      const raw = this.storage.getItem(this.key);
      const parsed = raw ? JSON.parse(raw) : [];
      return Array.isArray(parsed) ? parsed.filter((m) => m && typeof m.client_id === 'string') : [];
    } catch {
      return [];
    }
  }

  private save(): void {
    if (!this.storage) return;
    try {
      if (this.items.length === 0) this.storage.removeItem(this.key);
      else this.storage.setItem(this.key, JSON.stringify(this.items));
    } catch {
      /* storage full or blocked: the queue still lives in memory */
    }
  }

  all(): OutgoingMessage[] {
    return [...this.items];
  }

  has(clientId: string): boolean {
    return this.items.some((m) => m.client_id === clientId);
  }

  add(message: OutgoingMessage): void {
    if (this.has(message.client_id)) return;
    this.items.push(message);
    this.save();
  }

  remove(clientId: string): OutgoingMessage | undefined {
    const index = this.items.findIndex((m) => m.client_id === clientId);
    if (index < 0) return undefined;
    const [removed] = this.items.splice(index, 1);
    this.save();
    return removed;
  }

  clear(): void {
    this.items = [];
    this.save();
  }
}
