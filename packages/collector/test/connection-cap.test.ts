import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { getJson, startCollector } from './support/collector.js';

const running: Array<{ close(): Promise<void> }> = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const collector of running.splice(0)) await collector.close();
});

/** A connection that is open and says nothing, as an idle keep-alive or a flood holds one. */
function hold(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
    sockets.push(socket);
  });
}

/** Everything the collector writes on a fresh connection before it closes it. */
function answerOf(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('close', () => resolve(text));
  });
}

describe('the cap on open connections', () => {
  it('answers a connection past the cap 503 with a message and closes it; a freed place serves again', async () => {
    const started = await startCollector({ maxConnections: 3 });
    running.push(started);
    const port = Number(new URL(started.url).port);
    const held = [await hold(port), await hold(port), await hold(port)];
    const refused = await hold(port);
    const answer = await answerOf(refused);
    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(answer).toContain('Retry-After: 1');
    expect(answer).toContain('limit: retry later');

    held[0]!.destroy();
    // The freed place serves a request; it keeps its connection, so the cap is full again after it.
    let health: { status: number; body: { connections: { refused: number } } } | undefined;
    await expect.poll(async () => (health = await getJson(`${started.url}/healthz`).catch(() => undefined))?.status).toBe(200);
    expect(health!.body.connections.refused).toBeGreaterThanOrEqual(1);
  });
});
