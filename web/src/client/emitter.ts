/** A handler of one event's payload. */
export type Handler<T> = (data: T) => void;

/**
 * A small typed event emitter: `Events` maps each event name to its payload,
 * so `on('messageReceived', (m) => …)` knows `m` is a `Message` and an unknown
 * name does not compile. Handlers are called on a copy of the list, so a
 * handler that removes itself (as `waitForEvent` does) never makes the next one
 * be skipped (seed defect D7); a handler that throws is logged and does not
 * stop the others. Hand-written rather than `mitt` for those two guarantees and
 * `waitForEvent`, which the seed's API has.
 */
export class Emitter<Events extends object> {
  private handlers: { [K in keyof Events]?: Handler<Events[K]>[] } = {};

  on<K extends keyof Events>(event: K, handler: Handler<Events[K]>): () => void {
    (this.handlers[event] ??= []).push(handler);
    return () => this.off(event, handler);
  }

  off<K extends keyof Events>(event: K, handler: Handler<Events[K]>): void {
    const list = this.handlers[event];
    const index = list?.indexOf(handler) ?? -1;
    if (index > -1) list!.splice(index, 1);
  }

  emit<K extends keyof Events>(event: K, data: Events[K]): void {
    for (const handler of [...(this.handlers[event] ?? [])]) {
      try {
        handler(data);
      } catch (error) {
        console.error(`Soporte: handler for ${String(event)} failed`, error);
      }
    }
  }

  /** Resolves with the next `event`, or rejects after `timeout` ms. */
  waitForEvent<K extends keyof Events>(event: K, timeout = 5000): Promise<Events[K]> {
    return new Promise<Events[K]>((resolve, reject) => {
      const handler = (data: Events[K]) => {
        clearTimeout(timer);
        this.off(event, handler);
        resolve(data);
      };
      const timer = setTimeout(() => {
        this.off(event, handler);
        reject(new Error(`Timeout esperando evento ${String(event)}`));
      }, timeout);
      this.on(event, handler);
    });
  }

  clear(): void {
    this.handlers = {};
  }
}
