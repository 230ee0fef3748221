import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseCli, UsageError } from '../src/cli-options.js';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const usage = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  try {
    parseCli(argv, env);
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  return undefined;
};

describe('collector flags that would make it unsafe or useless are refused with a usage message', () => {
  it('takes only http(s) trace-url templates: a javascript: link never reaches the Usage page', () => {
    expect(usage(['--trace-url', 'javascript:alert(document.cookie)//{traceId}'])).toContain('--trace-url must be an http or https URL');
    expect(usage(['--trace-url', 'not a url'])).toContain('--trace-url');
    expect(usage([], { FLOWTRACE_TRACE_URL: 'data:text/html,hi' })).toContain('--trace-url');
    expect(parseCli(['--trace-url', 'https://jaeger.example/trace/{traceId}'], {}).options.traceUrl).toBe('https://jaeger.example/trace/{traceId}');
  });

  it('takes only an http(s) rerun-url: the Usage page posts to it, never to a javascript: or file: address', () => {
    expect(usage(['--rerun-url', 'javascript:alert(1)'])).toContain('--rerun-url must be an http or https URL');
    expect(usage(['--rerun-url', 'not a url'])).toContain('--rerun-url');
    expect(usage([], { FLOWTRACE_RERUN_URL: 'file:///etc/passwd' })).toContain('--rerun-url');
    expect(parseCli(['--rerun-url', 'http://127.0.0.1:3001/rerun'], {}).options.rerunUrl).toBe('http://127.0.0.1:3001/rerun');
    expect(parseCli([], { FLOWTRACE_RERUN_URL: 'https://app.example/rerun' }).options.rerunUrl).toBe('https://app.example/rerun');
    expect(parseCli([], {}).options.rerunUrl).toBeUndefined();
  });

  it('refuses blank, spaced or short tokens', () => {
    for (const token of [' ', '', 'has space inside', 'short']) expect(usage(['--token', token]), token).toContain('--token must be');
    expect(usage([], { FLOWTRACE_TOKEN: '   ' })).toContain('--token must be');
    expect(parseCli([], { FLOWTRACE_TOKEN: '' }).options.token).toBeUndefined();
    expect(parseCli(['--token', 's3cret-token'], {}).options.token).toBe('s3cret-token');
  });

  it('takes forward headers as "name: value" flags or OTEL-style name=value pairs, and never echoes a value', () => {
    const flags = parseCli(['--forward', 'https://otlp.example', '--forward-header', 'X-Api-Key: s3cret value', '--forward-header', 'x-team:a'], {});
    expect(flags.options.forwardHeaders).toEqual({ 'x-api-key': 's3cret value', 'x-team': 'a' });
    const env = parseCli([], { FLOWTRACE_FORWARD: 'https://otlp.example', FLOWTRACE_FORWARD_HEADERS: 'api-key=s3cret%2Cwith%20comma, x-team = a' });
    expect(env.options.forwardHeaders).toEqual({ 'api-key': 's3cret,with comma', 'x-team': 'a' });
    // Flags win over the environment, as for every other option.
    expect(parseCli(['--forward', 'http://h', '--forward-header', 'a: 1'], { FLOWTRACE_FORWARD_HEADERS: 'b=2' }).options.forwardHeaders).toEqual({ a: '1' });
    const refusals = [
      usage(['--forward', 'http://h', '--forward-header', 's3cret-without-colon']),
      usage(['--forward', 'http://h', '--forward-header', 'bad name: s3cret']),
      usage(['--forward', 'http://h', '--forward-header', 'x-key: s3cret\r\nx-evil: 1']),
      usage(['--forward', 'http://h', '--forward-header', 'content-type: s3cret']),
      usage(['--forward', 'http://h'], { FLOWTRACE_FORWARD_HEADERS: 's3cret' }),
      usage(['--forward', 'http://h'], { FLOWTRACE_FORWARD_HEADERS: 'k=s3cret%zz' }),
    ];
    expect(refusals).toEqual([
      '--forward-header must be "name: value", such as "x-api-key: <key>"',
      'forward header name "bad name" is not a valid HTTP header name',
      'forward header "x-key" has a value with a line break or control character',
      'forward header "content-type" is set by the collector for each payload and cannot be given',
      'FLOWTRACE_FORWARD_HEADERS must be comma-separated name=value pairs',
      'FLOWTRACE_FORWARD_HEADERS: the value of "k" is not valid percent-encoding',
    ]);
    expect(usage(['--forward-header', 'x-api-key: s3cret'])).toBe('--forward-header applies to --forward: give it a destination');
  });

  it('takes only http(s) forward URLs without credentials, and an outbox cap of at least 1 MiB', () => {
    expect(usage(['--forward', 'ftp://h'])).toContain('--forward must be an http or https URL');
    expect(usage(['--forward', 'https://user:s3cret@otlp.example'])).toBe(
      "--forward URLs cannot hold a user or password: send credentials with --forward-header 'authorization: Basic …'",
    );
    expect(parseCli(['--forward', 'http://h', '--forward-max-bytes', '2GiB'], {}).options.forwardMaxBytes).toBe(2 * 1024 ** 3);
    expect(parseCli([], { FLOWTRACE_FORWARD_MAX_BYTES: '5000000' }).options.forwardMaxBytes).toBe(5_000_000);
    expect(parseCli([], {}).options).not.toHaveProperty('forwardMaxBytes');
    for (const size of ['1KiB', '0', 'lots', '1 GB']) expect(usage(['--forward-max-bytes', size]), size).toContain('--forward-max-bytes must be a size such as 500MiB');
  });

  it('refuses a body limit no OTLP batch fits in', () => {
    expect(usage(['--max-body', '0'])).toContain('at least 1024');
    expect(usage(['--max-body', '-5'])).toContain('--max-body');
    expect(parseCli(['--max-body', '1048576'], {}).options.maxBodyBytes).toBe(1_048_576);
  });

  it('takes capacity limits as whole numbers', () => {
    expect(parseCli(['--max-connections', '2000', '--max-streams', '50'], {}).options).toMatchObject({ maxConnections: 2000, maxStreams: 50 });
    expect(parseCli([], { FLOWTRACE_MAX_STREAMS: '10' }).options.maxStreams).toBe(10);
    expect(usage(['--max-connections', '3'])).toContain('--max-connections must be a whole number, at least 16');
    expect(usage(['--max-streams', '0'])).toContain('--max-streams must be a whole number, at least 1');
    expect(usage(['--max-streams', 'lots'])).toContain('--max-streams');
  });

  it('reads allowed hosts from the flag (repeatable) or the environment (comma-separated)', () => {
    expect(parseCli(['--allowed-host', 'a.example', '--allowed-host', 'b.example:8443'], {}).options.allowedHosts).toEqual(['a.example', 'b.example:8443']);
    expect(parseCli([], { FLOWTRACE_ALLOWED_HOSTS: 'a.example, b.example' }).options.allowedHosts).toEqual(['a.example', 'b.example']);
    expect(parseCli([], {}).options.allowedHosts).toEqual([]);
    expect(parseCli(['--trust-proxy'], {}).options.trustProxy).toBe(true);
    expect(parseCli([], { FLOWTRACE_TRUST_PROXY: 'true' }).options.trustProxy).toBe(true);
    expect(parseCli([], {}).options.trustProxy).toBe(false);
  });

  it('says which database it cannot open, without a stack trace, and exits 1', () => {
    const run = spawnSync(process.execPath, [CLI, '--port', '0', '--db', '/nonexistent-dir/sub/flowtrace.db'], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('cannot open the database /nonexistent-dir/sub/flowtrace.db');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});
