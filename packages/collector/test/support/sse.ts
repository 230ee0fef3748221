/** The change sequence number in an event id (`<history>-<seq>`). */
export function seqOf(id: string | undefined): number {
  return Number(id?.slice(id.lastIndexOf('-') + 1));
}

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/**
 * A minimal Server-Sent Events reader over fetch, for tests: collects events as they arrive
 * and lets a test wait for the one it expects.
 */
export async function openStream(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  const events: SseEvent[] = [];
  const waiters: Array<() => void> = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: SseEvent = { event: 'message', data: '' };
          let hasData = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const [field, ...rest] = line.split(':');
            const text = rest.join(':').replace(/^ /, '');
            if (field === 'id') event.id = text;
            else if (field === 'event') event.event = text;
            else if (field === 'data') {
              event.data += (hasData ? '\n' : '') + text;
              hasData = true;
            }
          }
          if (hasData) {
            events.push(event);
            for (const wake of waiters.splice(0)) wake();
          }
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    response,
    events,
    /** Resolves with the first event (already received or coming) that matches. */
    async next(match: (event: SseEvent) => boolean, timeoutMs = 5000): Promise<SseEvent> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events)}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
    close: () => controller.abort(),
  };
}
