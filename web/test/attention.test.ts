import { describe, expect, it, vi } from 'vitest';
import { Attention } from '../src/client/attention';
import { MemoryStorage } from './fakes';

function fakeNotifications(permission: NotificationPermission) {
  const shown: { title: string; body?: string; tag?: string }[] = [];
  class FakeNotification {
    static permission = permission;
    static requestPermission = vi.fn(async () => {
      FakeNotification.permission = 'granted';
      return 'granted' as NotificationPermission;
    });
    onclick: (() => void) | null = null;
    constructor(title: string, options: NotificationOptions = {}) {
      shown.push({ title, body: options.body, tag: options.tag });
    }
    close() {}
  }
  return { shown, api: FakeNotification as unknown as typeof Notification & { requestPermission: ReturnType<typeof vi.fn> } };
}

describe('Attention', () => {
  it('stays quiet for what is on screen, chimes when sound is on, notifies when hidden and allowed', () => {
    const play = vi.fn();
    const { shown, api } = fakeNotifications('granted');
    let hidden = false;
    const a = new Attention({ defaultSound: true, storage: new MemoryStorage(), notifications: api, play, isHidden: () => hidden });
    a.signal({ title: 'Ana', body: 'hola' }, true);
    expect(play).not.toHaveBeenCalled();
    expect(shown).toEqual([]);
    // Another conversation, page shown: the chime and a notification (it is not on screen).
    a.signal({ title: 'Ana', body: 'otra' }, false);
    expect(play).toHaveBeenCalledTimes(1);
    hidden = true;
    a.signal({ title: 'Ana', body: 'hola', tag: 'ticket-7' }, true);
    expect(play).toHaveBeenCalledTimes(2);
    expect(shown.at(-1)).toEqual({ title: 'Ana', body: 'hola', tag: 'ticket-7' });
  });

  it('remembers the sound choice, off by default for customers, and never notifies without permission', async () => {
    const storage = new MemoryStorage();
    const play = vi.fn();
    const { shown, api } = fakeNotifications('default');
    const a = new Attention({ defaultSound: false, storage, notifications: api, play, isHidden: () => true });
    expect(a.soundOn).toBe(false);
    a.signal({ title: 'María', body: 'respuesta' }, false);
    expect(play).not.toHaveBeenCalled();
    expect(shown).toEqual([]);
    a.setSound(true);
    expect(new Attention({ defaultSound: false, storage, notifications: api, play }).soundOn).toBe(true);
    expect(a.canAsk).toBe(true);
    await a.requestPermission();
    expect(api.requestPermission).toHaveBeenCalledTimes(1);
    expect(a.canAsk).toBe(false);
    a.signal({ title: 'María', body: 'otra' }, false);
    expect(shown).toHaveLength(1);
  });
});
