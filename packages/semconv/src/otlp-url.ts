/**
 * The OTLP/HTTP traces URL for a base URL, as the OTLP exporter specification builds it from
 * `OTEL_EXPORTER_OTLP_ENDPOINT`: the signal path `/v1/traces` appended (`http://host:4318` →
 * `http://host:4318/v1/traces`, `https://host/otlp` → `https://host/otlp/v1/traces`). A URL that
 * already ends in `/v1/traces` is kept, so a collector URL given in full still works.
 */
export function tracesUrl(base: string): string {
  const parsed = new URL(base);
  if (parsed.pathname.endsWith('/v1/traces')) return parsed.toString();
  parsed.pathname = `${parsed.pathname.replace(/\/+$/, '')}/v1/traces`;
  return parsed.toString();
}
