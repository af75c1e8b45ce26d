import type { KeyValueStorage } from './types';

/** Something worth telling a person who is not looking. */
export interface Signal {
  title: string;
  body: string;
  /** Signals of one tag replace each other (one per ticket). */
  tag?: string;
  onClick?: () => void;
}

export interface AttentionConfig {
  /** Sound when nothing was chosen: on for agents, off for customers. */
  defaultSound: boolean;
  /** Where the choice is remembered (default localStorage). */
  storage?: KeyValueStorage | null;
  /** The key it is remembered under. */
  key?: string;
  /** For tests: the Notification API and the sound. */
  notifications?: typeof Notification | null;
  play?: () => void;
  isHidden?: () => boolean;
}

/**
 * Tells a person who is not looking that something happened: a short
 * chime (a setting they choose, remembered) and a desktop notification while
 * the page is hidden, if they granted it. Permission is only asked from a
 * gesture of theirs (`requestPermission` in a click handler), never on load.
 */
export class Attention {
  private readonly storage: KeyValueStorage | null;
  private readonly key: string;
  private readonly notifications: typeof Notification | null;
  private readonly play: () => void;
  private readonly isHidden: () => boolean;
  private sound: boolean;

  constructor(config: AttentionConfig) {
    this.storage = config.storage === undefined ? defaultStorage() : config.storage;
    this.key = config.key ?? 'soporte_sound';
    this.notifications = config.notifications === undefined ? (typeof Notification === 'undefined' ? null : Notification) : config.notifications;
    this.play = config.play ?? chime;
    this.isHidden = config.isHidden ?? (() => typeof document !== 'undefined' && document.visibilityState === 'hidden');
    const saved = this.storage?.getItem(this.key);
    this.sound = saved === null || saved === undefined ? config.defaultSound : saved === 'on';
  }

  get soundOn(): boolean {
    return this.sound;
  }

  setSound(on: boolean): void {
    this.sound = on;
    this.storage?.setItem(this.key, on ? 'on' : 'off');
    if (on) unlockAudio();
  }

  /** Whether notifications may still be asked for (the browser has them and nobody answered). */
  get canAsk(): boolean {
    return this.notifications?.permission === 'default';
  }

  /** Call from a click or key handler: the browser shows its question. */
  async requestPermission(): Promise<NotificationPermission | null> {
    unlockAudio();
    if (!this.notifications || this.notifications.permission !== 'default') return this.notifications?.permission ?? null;
    return this.notifications.requestPermission();
  }

  /**
   * Signals `signal`: the chime when sound is on and the person is not
   * looking (`looking`: the conversation is on screen and the page shown),
   * a notification when the page is hidden and they allowed it.
   */
  signal(signal: Signal, looking: boolean): void {
    const hidden = this.isHidden();
    if (looking && !hidden) return;
    if (this.sound) this.play();
    if ((hidden || !looking) && this.notifications?.permission === 'granted') {
      const shown = new this.notifications(signal.title, { body: signal.body.slice(0, 180), tag: signal.tag });
      shown.onclick = () => {
        window.focus();
        signal.onClick?.();
        shown.close();
      };
    }
  }
}

function defaultStorage(): KeyValueStorage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

let audio: AudioContext | null = null;

/** Browsers start audio only after a gesture: made (or resumed) from one. */
function unlockAudio(): void {
  if (typeof AudioContext === 'undefined') return;
  audio ??= new AudioContext();
  if (audio.state === 'suspended') void audio.resume();
}

/** Two short soft tones (no audio file to fetch). */
export function chime(): void {
  if (typeof AudioContext === 'undefined') return;
  audio ??= new AudioContext();
  const start = audio.currentTime;
  for (const [i, frequency] of [880, 1320].entries()) {
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start + i * 0.12);
    gain.gain.exponentialRampToValueAtTime(0.15, start + i * 0.12 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.12 + 0.18);
    tone.connect(gain).connect(audio.destination);
    tone.start(start + i * 0.12);
    tone.stop(start + i * 0.12 + 0.2);
  }
}
