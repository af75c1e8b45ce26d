export type Handler<T = any> = (data: T) => void;

/** A small event emitter. Handlers are called on a copy of the list, so a
 * handler that removes itself (as `waitForEvent` does) never makes the next
 * one be skipped (seed defect D7). */
export class Emitter {
  private handlers = new Map<string, Handler[]>();

  on<T = any>(event: string, handler: Handler<T>): () => void {
    const list = this.handlers.get(event) ?? [];
    list.push(handler);
    this.handlers.set(event, list);
    return () => this.off(event, handler);
  }

  off<T = any>(event: string, handler: Handler<T>): void {
    const list = this.handlers.get(event);
    if (!list) return;
    const index = list.indexOf(handler);
    if (index > -1) list.splice(index, 1);
  }

  emit<T = any>(event: string, data?: T): void {
    const list = this.handlers.get(event);
    if (!list) return;
    for (const handler of [...list]) {
      try {
        handler(data);
      } catch (error) {
        console.error(`Soporte: handler for ${event} failed`, error);
      }
    }
  }

  /** Resolves with the next `event`, or rejects after `timeout` ms. */
  waitForEvent<T = any>(event: string, timeout = 5000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const handler = (data: T) => {
        clearTimeout(timer);
        this.off(event, handler);
        resolve(data);
      };
      const timer = setTimeout(() => {
        this.off(event, handler);
        reject(new Error(`Timeout esperando evento ${event}`));
      }, timeout);
      this.on(event, handler);
    });
  }

  clear(): void {
    this.handlers.clear();
  }
}
