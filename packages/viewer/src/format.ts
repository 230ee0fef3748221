/** Durations and times as people read them. */

export function formatDuration(ms: number): string {
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1).replace(/\.?0+$/, '')} s`;
  if (ms < 3_600_000) {
    const minutes = Math.floor(ms / 60_000);
    const seconds = Math.round((ms % 60_000) / 1000);
    return seconds === 0 ? `${minutes} min` : `${minutes} min ${seconds} s`;
  }
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.round((ms % 3_600_000) / 60_000);
  return minutes === 0 ? `${hours} h` : `${hours} h ${minutes} min`;
}

/**
 * A running time, in whole seconds because it ticks once a second: "under 1 s", "12 s",
 * "2 min 10 s". (formatDuration's "1.23 s" would flicker through decimals as it ticks.)
 */
export function formatElapsed(ms: number): string {
  if (!(ms >= 1000)) return 'under 1 s';
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 === 0 ? `${minutes} min` : `${minutes} min ${seconds % 60} s`;
  const hours = Math.floor(minutes / 60);
  return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
}

/** The running time from `since` (ISO) to `now` (ms). */
export function elapsedSince(since: string, now: number): string {
  return formatElapsed(now - Date.parse(since));
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

export function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : timeFormat.format(date);
}

/**
 * Right-to-left letters and direction controls (U+202A–U+202E overrides and embeddings,
 * U+2066–U+2069 isolates, U+200E/U+200F/U+061C marks): text carrying one can reorder the
 * characters around it — an override in a parameter could make a row read as something else.
 */
const BIDI_SENSITIVE = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]|\ud802[\udc00-\udfff]|\ud83a[\udc00-\udfff]/;

/**
 * A user-supplied string wrapped in U+2068 FIRST STRONG ISOLATE … U+2069 POP DIRECTIONAL
 * ISOLATE when it could affect the text around it, as Unicode's bidi algorithm recommends for
 * inserted text; the PDI also closes any embedding or override the string left open. Works in
 * text and in attributes (titles, labels) alike. Plain left-to-right text is returned as is.
 */
export function isolate(text: string): string {
  return BIDI_SENSITIVE.test(text) ? `\u2068${text}\u2069` : text;
}
