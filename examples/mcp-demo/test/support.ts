import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { chromium, type Browser } from 'playwright-core';

export { freePort } from '@flowtrace/test-servers';

export function tempDb(): string {
  return join(mkdtempSync(join(tmpdir(), 'flowtrace-demo-')), 'flowtrace.db');
}

export async function mcpClient(url: string): Promise<Client> {
  const client = new Client({ name: 'e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
}

interface ListItem {
  id: string;
  status: string;
  errorKind?: string;
  preview: string;
}

/** Polls the collector until an execution of `flowId` whose preview contains `text` satisfies `ready`. */
export async function waitForExecution(
  collectorUrl: string,
  flowId: string,
  text: string,
  ready: (item: ListItem) => boolean,
  timeoutMs = 20_000,
): Promise<ListItem> {
  const deadline = Date.now() + timeoutMs;
  let last: ListItem | undefined;
  for (;;) {
    const response = await fetch(`${collectorUrl}/api/flows/${flowId}/executions?limit=100`);
    if (response.ok) {
      const { items } = (await response.json()) as { items: ListItem[] };
      last = items.find((item) => item.preview.includes(text));
      if (last && ready(last)) return last;
    }
    if (Date.now() > deadline) throw new Error(`no execution of ${flowId} with "${text}" became ready; last seen ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
