import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installHost, type Host } from './support/host.js';
import { STRICT_HOSTS } from './support/typescript.js';

describe('npm install @flowtrace/viewer alone, for a browser app', () => {
  let host: Host;
  beforeAll(async () => {
    host = await installHost({ '@flowtrace/viewer': `file:${inject('packed').viewer}` });
  });
  afterAll(() => host?.remove());

  it('gets Lit and nothing of the collector', async () => {
    const installed = await host.installed();
    expect([...installed].filter((name) => name.startsWith('@flowtrace/'))).toEqual(['@flowtrace/viewer']);
    expect(installed.has('lit')).toBe(true);
  });

  it('type-checks a strict TypeScript app against the shipped declarations, record types included', async () => {
    const app = `import { HttpSource, FlowtraceUsageTab, type ExecutionRecord, type ExecutionListItem, type Page } from '@flowtrace/viewer';
const source = new HttpSource({ apiBase: 'http://127.0.0.1:4318' });
const page: Page<ExecutionListItem> = await source.listExecutions('flow', { page: 1, limit: 20 });
const record: ExecutionRecord = await source.getExecution('flow', page.items[0]!.id);
const tab = document.createElement('flowtrace-usage-tab');
tab.flowId = record.flowId;
export const used: FlowtraceUsageTab = tab;
`;
    for (const options of Object.values(STRICT_HOSTS)) expect(await host.typecheck({ 'app.ts': app }, { ...options, lib: ['ES2023', 'DOM', 'DOM.Iterable'] })).toEqual([]);
  });
});
