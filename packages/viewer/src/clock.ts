import type { ReactiveController, ReactiveControllerHost } from 'lit';

/** Running times are shown in whole seconds, so once a second is often enough. */
export const TICK_MS = 1000;

/**
 * One interval for the whole page, running only while some element shows a running time:
 * every clock reads the same instant, so a row and the detail never disagree by a second.
 */
const listeners = new Set<(now: number) => void>();
let timer: ReturnType<typeof setInterval> | undefined;

function subscribe(listener: (now: number) => void) {
  listeners.add(listener);
  timer ??= setInterval(() => {
    const now = Date.now();
    for (const each of listeners) each(now);
  }, TICK_MS);
}

function unsubscribe(listener: (now: number) => void) {
  listeners.delete(listener);
  if (listeners.size === 0 && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}

/**
 * The time an element renders running times against. It ticks only while `isLive()` says the
 * element shows something running (checked after each update) and while the element is
 * connected; otherwise each render simply reads the current time.
 */
export class LiveClock implements ReactiveController {
  /** The instant to render against (ms since the epoch). */
  now = Date.now();
  private ticking = false;

  constructor(
    private readonly host: ReactiveControllerHost & HTMLElement,
    private readonly isLive: () => boolean,
  ) {
    host.addController(this);
  }

  private readonly onTick = (now: number) => {
    this.now = now;
    this.host.requestUpdate();
  };

  hostConnected() {
    // Back in the page: render once so hostUpdated decides whether to tick again.
    this.host.requestUpdate();
  }

  hostUpdate() {
    if (!this.ticking) this.now = Date.now();
  }

  hostUpdated() {
    const live = this.host.isConnected && this.isLive();
    if (live && !this.ticking) subscribe(this.onTick);
    else if (!live && this.ticking) unsubscribe(this.onTick);
    this.ticking = live;
  }

  hostDisconnected() {
    if (this.ticking) unsubscribe(this.onTick);
    this.ticking = false;
  }
}
