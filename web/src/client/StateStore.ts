/**
 * A value that changes over time, for `useSyncExternalStore`: `getState()`
 * returns an immutable snapshot (a new object on every change, the same one
 * otherwise) and `subscribe()` is told after each change. The pattern of
 * stream-chat's `StateStore`; hand-written because it is these few lines and
 * a library package should not pull a state library into its host app.
 */
export class StateStore<T extends object> {
  private state: Readonly<T>;
  private readonly listeners = new Set<() => void>();

  constructor(initial: T) {
    this.state = initial;
  }

  getState = (): Readonly<T> => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  /** Applies a patch (or a function of the current state); nothing happens when no field changes. */
  set(patch: Partial<T> | ((state: Readonly<T>) => Partial<T>)): void {
    const changes = typeof patch === 'function' ? patch(this.state) : patch;
    const keys = Object.keys(changes) as (keyof T)[];
    if (keys.every((key) => Object.is(changes[key], this.state[key]))) return;
    this.state = { ...this.state, ...changes };
    for (const listener of [...this.listeners]) listener();
  }
}
