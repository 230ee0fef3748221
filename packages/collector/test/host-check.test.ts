import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { checkoutSpans, jsonBody } from './support/traced.js';
import { startCollector } from './support/collector.js';

/** Node's fetch will not send another Host: requests go out with node:http, as a rebinding page's would arrive. */
function send(url: string, path: string, host: string, method = 'GET', body?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, headers: { host, ...(body ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const running: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const collector of running.splice(0)) await collector.close();
});

async function collectorWithOneFlow(allowedHosts?: string[]) {
  const started = await startCollector(allowedHosts ? { allowedHosts } : {});
  running.push(started);
  const port = new URL(started.url).port;
  const stored = await send(started.url, '/v1/traces', `127.0.0.1:${port}`, 'POST', jsonBody(await checkoutSpans([{ sku: 'A', qty: 1 }])));
  expect(stored.status).toBe(200);
  return { ...started, port };
}

describe('on loopback, the collector serves only Host names of this machine (DNS-rebinding protection)', () => {
  it('answers 421 to a foreign Host, for reads, deletes and ingest alike, and deletes nothing', async () => {
    const { url, port } = await collectorWithOneFlow();
    const foreign = `rebind.attacker.example:${port}`;
    const read = await send(url, '/api/flows', foreign);
    expect(read.status).toBe(421);
    expect(JSON.parse(read.body).message).toContain('--allowed-host rebind.attacker.example');
    expect((await send(url, '/api/flows/checkout', foreign, 'DELETE')).status).toBe(421);
    expect((await send(url, '/v1/traces', foreign, 'POST', Buffer.from('{}'))).status).toBe(421);
    expect((await send(url, '/', foreign)).status).toBe(421);

    const flows = await send(url, '/api/flows', `localhost:${port}`);
    expect(flows.status).toBe(200);
    expect(JSON.parse(flows.body).items.map((f: { flowId: string }) => f.flowId)).toEqual(['checkout']);
  });

  it('serves localhost, *.localhost and loopback addresses, with or without a port', async () => {
    const { url, port } = await collectorWithOneFlow();
    for (const host of [`localhost:${port}`, 'localhost', `app.localhost:${port}`, `127.0.0.1:${port}`, `127.1.2.3:${port}`, `[::1]:${port}`, 'LOCALHOST']) {
      expect((await send(url, '/api/flows', host)).status, host).toBe(200);
    }
  });

  it('serves the names given with allowedHosts (--allowed-host), as a name or name:port', async () => {
    // The Host a client sends is the name and port it dialled, which a proxy in front may change.
    const { url, port } = await collectorWithOneFlow(['tunnel.example', 'exact.example:8443']);
    expect((await send(url, '/api/flows', `tunnel.example:${port}`)).status).toBe(200);
    expect((await send(url, '/api/flows', 'exact.example:8443')).status).toBe(200);
    expect((await send(url, '/api/flows', 'exact.example:1')).status).toBe(421);
  });
});
