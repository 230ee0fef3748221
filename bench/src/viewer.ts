import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { figure, median, type Bench, type BenchResult } from './measure.js';

const BUNDLE = fileURLToPath(import.meta.resolve('@flowtrace/viewer/bundle'));

/** Lit's own runtime as published for browsers (already minified): what any Lit element costs at least. */
function litRuntime(): Buffer {
  const files: Array<[string, string]> = [
    ['lit-html', 'lit-html.js'],
    ['@lit/reactive-element', 'reactive-element.js'],
    ['@lit/reactive-element', 'css-tag.js'],
    ['lit-element', 'lit-element.js'],
  ];
  // Resolved from the viewer, whose dependency Lit is; these packages do not export package.json.
  const fromViewer = createRequire(import.meta.resolve('@flowtrace/viewer/package.json'));
  return Buffer.concat(files.map(([pkg, file]) => readFileSync(join(packageRoot(fromViewer.resolve(pkg)), file))));
}

function packageRoot(entry: string): string {
  let dir = dirname(entry);
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

/**
 * In Chromium: time from data arrival to a rendered 50-row page and to a rendered 100-node
 * detail, against the same content built with plain DOM calls in the same page; from data
 * arrival to the first screen of a 10,000-step execution's timeline, against plain DOM building
 * a bar for each of its steps (what a timeline that renders every row costs at least); and the
 * bundle's size, minified and gzipped, against Lit's own runtime.
 */
export const viewerBench: Bench = async ({ smoke, log }): Promise<BenchResult> => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.setContent('<!doctype html><html><body></body></html>');
    await page.addScriptTag({ content: readFileSync(BUNDLE, 'utf8'), type: 'module' });
    await page.waitForFunction(() => customElements.get('flowtrace-usage-tab') !== undefined);
    const rounds = smoke ? 2 : 15;
    log(`${rounds} rounds of each rendering`);
    const samples = (await page.evaluate(measureInPage, rounds)) as Record<string, number[]>;
    const bundle = gzipSync(readFileSync(BUNDLE), { level: 9 }).length / 1024;
    const lit = gzipSync(litRuntime(), { level: 9 }).length / 1024;
    return {
      bench: 'viewer',
      smoke,
      figures: [
        figure('render 50-row page after data arrives', median(samples.list!), 'ms', { name: 'plain DOM, same rows', value: median(samples.plainList!) }),
        figure('render 100-node detail after data arrives', median(samples.detail!), 'ms', { name: 'plain DOM, same nodes', value: median(samples.plainDetail!) }),
        figure(
          '10,000-step timeline, first screen after data arrives',
          median(samples.timeline!),
          'ms',
          { name: 'plain DOM, a bar per step', value: median(samples.plainTimeline!) },
          '< 150 ms (issue 18)',
        ),
        figure('bundle, minified + gzipped', bundle, 'KiB', { name: 'Lit runtime alone', value: lit }),
      ],
      samples,
    };
  } finally {
    await browser.close();
  }
};

/** Runs in the page: alternates the tab and the plain-DOM anchor, `rounds` times each. */
async function measureInPage(rounds: number): Promise<Record<string, number[]>> {
  type El = HTMLElement & { source?: unknown; updateComplete?: Promise<unknown> };
  const now = Date.now();
  const items = Array.from({ length: 50 }, (_, i) => ({
    id: `e-${i}`,
    flowId: 'f',
    flowName: 'f',
    status: i % 7 === 0 ? 'error' : i % 11 === 0 ? 'pending' : 'fulfilled',
    errorKind: i % 7 === 0 ? 'exception' : undefined,
    errorMessage: i % 7 === 0 ? 'card declined' : undefined,
    startedAt: new Date(now - i * 60_000).toISOString(),
    endedAt: new Date(now - i * 60_000 + 120).toISOString(),
    durationMs: 120,
    timeoutMs: 300_000,
    preview: `customer: c-${i}`,
  }));
  const nodes = Array.from({ length: 100 }, (_, i) => ({
    id: `n-${i}`,
    parentId: 'root',
    name: `step s${i}`,
    kind: 'fn',
    key: `s${i}`,
    flowName: null,
    depth: 1,
    index: i,
    status: i === 99 ? 'error' : 'fulfilled',
    startedAt: new Date(now + i).toISOString(),
    endedAt: new Date(now + i + 1).toISOString(),
    durationMs: 1,
    input: { i, sku: `sku-${i}` },
    output: i === 99 ? undefined : { ok: true, value: i * 3 },
    error: i === 99 ? { message: 'failed', type: 'Error' } : undefined,
    dataKey: i === 99 ? null : `s${i}`,
  }));
  const record = {
    id: 'e-0', flowId: 'f', flowName: 'f', traceId: '0'.repeat(31) + '1', serviceName: 'bench', status: 'error', errorKind: 'exception',
    startedAt: new Date(now).toISOString(), endedAt: new Date(now + 200).toISOString(), durationMs: 200, timeoutMs: 300_000,
    initialParams: { customer: 'c-1' }, nodes, data: {}, tags: {},
    errorInfo: { message: 'failed', type: 'Error', nodeId: 'n-99', nodeName: 'step s99' },
  };
  const page = { items, page: 1, limit: 50, total: 500, totalPages: 10 };
  // 100 child flows of 99 steps each, one after another.
  const bigNodes = Array.from({ length: 10_000 }, (_, i) => {
    const chunk = Math.floor(i / 100);
    const row = i % 100;
    const start = now + chunk * 500 + row * 4;
    return {
      id: `b-${i}`, parentId: row === 0 ? 'root' : `b-${chunk * 100}`, name: row === 0 ? `flow chunk-${chunk}` : `step row-${row}`,
      kind: row === 0 ? 'flow' : 'fn', key: `k${i}`, flowName: null, depth: row === 0 ? 1 : 2, index: row === 0 ? chunk : row,
      status: 'fulfilled', startedAt: new Date(start).toISOString(), durationMs: row === 0 ? 490 : 4, dataKey: null,
    };
  });
  const bigRecord = { ...record, id: 'e-big', status: 'fulfilled', errorKind: undefined, errorInfo: undefined, endedAt: new Date(now + 50_000).toISOString(), durationMs: 50_000, nodes: bigNodes, nodeCount: bigNodes.length };

  const settle = async (el: El) => {
    // Wait for every element under `el` to finish its update, then force style and layout.
    for (let pass = 0; pass < 6; pass++) {
      const pending: Array<Promise<unknown>> = [];
      const walk = (root: ParentNode) => {
        for (const child of root.querySelectorAll('*')) {
          const c = child as El;
          if (c.updateComplete) pending.push(c.updateComplete);
          if (c.shadowRoot) walk(c.shadowRoot);
        }
      };
      if (el.updateComplete) pending.push(el.updateComplete);
      if (el.shadowRoot) walk(el.shadowRoot);
      await Promise.all(pending);
    }
    void document.body.offsetHeight;
  };

  async function tab(kind: 'list' | 'detail' | 'timeline'): Promise<number> {
    let release!: () => void;
    const arrived = new Promise<void>((r) => (release = r));
    const el = document.createElement('flowtrace-usage-tab') as El;
    el.source = {
      listExecutions: () => (kind === 'list' ? arrived.then(() => page) : Promise.resolve({ ...page, items: [] })),
      getExecution: () => arrived.then(() => (kind === 'timeline' ? bigRecord : record)),
    };
    el.setAttribute('flow-id', 'f');
    el.setAttribute('page-size', '50');
    if (kind !== 'list') el.setAttribute('execution-id', 'e-0');
    if (kind === 'timeline') el.setAttribute('steps-view', 'timeline');
    document.body.append(el);
    await settle(el);
    const start = performance.now();
    release();
    const ready = () => {
      const root = el.shadowRoot;
      const detail = root?.querySelector('flowtrace-execution-detail')?.shadowRoot;
      if (kind === 'list') return root?.querySelector('flowtrace-execution-list')?.shadowRoot?.querySelectorAll('flowtrace-execution-item').length === 50;
      if (kind === 'detail') return (detail?.querySelectorAll('details.node').length ?? 0) === 100;
      return (detail?.querySelector('flowtrace-execution-timeline')?.shadowRoot?.querySelectorAll('[role=treeitem]').length ?? 0) > 0;
    };
    while (!ready()) await new Promise((r) => setTimeout(r, 0));
    await settle(el);
    const elapsed = performance.now() - start;
    el.remove();
    return elapsed;
  }

  function plain(kind: 'list' | 'detail' | 'timeline'): number {
    const start = performance.now();
    const box = document.createElement('div');
    if (kind === 'list') {
      for (const item of items) {
        const row = document.createElement('div');
        for (const text of [item.status, item.startedAt, String(item.durationMs), item.preview]) {
          const span = document.createElement('span');
          span.textContent = text;
          row.append(span);
        }
        box.append(row);
      }
    } else if (kind === 'timeline') {
      for (const node of bigNodes) {
        const row = document.createElement('div');
        const name = document.createElement('span');
        name.textContent = node.name;
        const bar = document.createElement('span');
        bar.style.cssText = `display:inline-block;height:8px;margin-left:${((Date.parse(node.startedAt) - now) / 50_000) * 100}%;width:${(node.durationMs / 50_000) * 100}%`;
        row.append(name, bar);
        box.append(row);
      }
    } else {
      for (const node of nodes) {
        const details = document.createElement('details');
        const summary = document.createElement('summary');
        summary.textContent = `${node.name} ${node.status} ${node.durationMs}`;
        const pre = document.createElement('pre');
        pre.textContent = JSON.stringify({ input: node.input, output: node.output });
        details.append(summary, pre);
        box.append(details);
      }
    }
    document.body.append(box);
    void document.body.offsetHeight;
    const elapsed = performance.now() - start;
    box.remove();
    return elapsed;
  }

  const samples: Record<string, number[]> = { list: [], plainList: [], detail: [], plainDetail: [], timeline: [], plainTimeline: [] };
  for (let round = -2; round < rounds; round++) {
    const results = {
      list: await tab('list'),
      plainList: plain('list'),
      detail: await tab('detail'),
      plainDetail: plain('detail'),
      timeline: await tab('timeline'),
      plainTimeline: plain('timeline'),
    };
    if (round >= 0) for (const [k, v] of Object.entries(results)) samples[k]!.push(v);
  }
  return samples;
}
