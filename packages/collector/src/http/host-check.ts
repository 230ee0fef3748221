import { isIP } from 'node:net';
import type { Middleware } from 'koa';

/**
 * DNS-rebinding protection. A web page the user visits can point a name it owns at 127.0.0.1
 * and then read (and delete) what a loopback-only collector serves: the browser sends the
 * attacker's name as `Host`. So a request that arrived on a loopback address is served only
 * when its `Host` names this machine — `localhost` (and `*.localhost`, which browsers keep on
 * loopback), a loopback address — or one of `allowed` (names given with `--allowed-host`).
 * Requests that reach the collector on another interface are the token's business.
 */
export function loopbackHostCheck(allowed: readonly string[]): Middleware {
  const names = new Set(allowed.map((name) => name.trim().toLowerCase()).filter(Boolean));
  return async (ctx, next) => {
    if (!isLoopback(ctx.req.socket.localAddress)) return next();
    const host = (ctx.get('host') || '').trim().toLowerCase();
    if (names.has(host) || names.has(hostnameOf(host)) || namesThisMachine(hostnameOf(host))) return next();
    ctx.status = 421;
    ctx.body = {
      error: 'misdirected_request',
      message: `this collector listens on loopback and serves only Host localhost or a loopback address, not "${host || '(none)'}"; start it with --allowed-host ${hostnameOf(host) || '<name>'} to serve that name`,
    };
  };
}

/** The host part of a `Host` header: without the port, without an IPv6 address's brackets. */
function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']') > 0 ? host.indexOf(']') : undefined);
  const colon = host.lastIndexOf(':');
  return colon >= 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

function namesThisMachine(hostname: string): boolean {
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) return true;
  return isIP(hostname) !== 0 && isLoopback(hostname);
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}
