/** RFC 9110 token: what a header name may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII, spaces and tabs, and bytes past ASCII: no CR, LF or NUL to split a request with. */
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** The collector writes these itself for each payload. */
const RESERVED = new Set(['content-type', 'content-length', 'content-encoding', 'transfer-encoding', 'host', 'connection']);

/**
 * Headers sent with every forwarded request (an API key for a hosted backend), from repeated
 * `name: value` flags or, when there are none, an environment variable in the format of
 * OTEL_EXPORTER_OTLP_HEADERS: comma-separated `name=value`, values percent-encoded. Names are
 * kept in lowercase. Throws a RangeError that names the header, never its value (a secret).
 */
export function parseForwardHeaders(flags: readonly string[], env: string | undefined): Record<string, string> {
  const pairs = flags.length > 0 ? flags.map((flag) => split(flag, ':', '--forward-header must be "name: value", such as "x-api-key: <key>"')) : fromEnv(env);
  const headers: Record<string, string> = {};
  for (const [rawName, rawValue] of pairs) {
    const name = rawName.trim().toLowerCase();
    const value = rawValue.trim();
    if (!TOKEN.test(name)) throw new RangeError(`forward header name "${name.slice(0, 40)}" is not a valid HTTP header name`);
    if (RESERVED.has(name)) throw new RangeError(`forward header "${name}" is set by the collector for each payload and cannot be given`);
    if (!VALUE.test(value)) throw new RangeError(`forward header "${name}" has a value with a line break or control character`);
    headers[name] = value;
  }
  return headers;
}

function fromEnv(env: string | undefined): Array<[string, string]> {
  if (!env?.trim()) return [];
  return env
    .split(',')
    .filter((item) => item.trim())
    .map((item) => {
      const [name, value] = split(item, '=', 'FLOWTRACE_FORWARD_HEADERS must be comma-separated name=value pairs');
      try {
        return [name, decodeURIComponent(value)];
      } catch {
        throw new RangeError(`FLOWTRACE_FORWARD_HEADERS: the value of "${name.trim()}" is not valid percent-encoding`);
      }
    });
}

function split(text: string, separator: string, usage: string): [string, string] {
  const at = text.indexOf(separator);
  if (at <= 0) throw new RangeError(usage);
  return [text.slice(0, at), text.slice(at + 1)];
}
