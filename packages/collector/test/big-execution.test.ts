import { custom, flow } from '@pumped-fn/core-next';
import { afterAll, describe, expect, it } from 'vitest';
import { projectExecution } from '../src/records/project.js';
import type { ExecutionNode, ExecutionRecord } from '../src/records/types.js';
import { getJson, startCollector } from './support/collector.js';
import { memoryProvider, normalized, protobufBody } from './support/traced.js';

/** 50 child flows of 1,000 steps each: a real nested tree (and core-next adds one abort listener per step to its parent's signal, so flat 50,000 would be slow to produce). */
const CHUNKS = 50;
const PER_CHUNK = 1000;
const STEPS = CHUNKS + CHUNKS * PER_CHUNK;
const BATCH = 512;
const provider = memoryProvider('bulk', 'bulk-1');
afterAll(() => provider.provider.shutdown());

const chunk = flow({ name: 'import-chunk', input: custom<{ from: number }>(), output: custom<number>() }, async (ctx, { from }) => {
  let sum = 0;
  for (let i = from; i < from + PER_CHUNK; i++) sum += await ctx.exec({ fn: (n: number) => n * 2, params: [i], key: `row-${i}` });
  return sum;
});
const bulk = flow({ name: 'bulk-import', input: custom<{ chunks: number }>(), output: custom<number>() }, async (ctx, { chunks }) => {
  let sum = 0;
  for (let c = 0; c < chunks; c++) sum += await ctx.exec({ flow: chunk, input: { from: c * PER_CHUNK }, key: `chunk-${c}` });
  return sum;
});

describe(`an execution of ${STEPS.toLocaleString('en')} steps`, () => {
  it('arrives in batches of 512, and its detail is served in pages equal to the projection of its spans, running steps included', async () => {
    const running = await startCollector();
    try {
      provider.exporter.reset();
      await provider.scope.exec({ flow: bulk, input: { chunks: CHUNKS } });
      const sdkSpans = provider.exporter.getFinishedSpans();
      const isRoot = (s: (typeof sdkSpans)[number]) => s.attributes['flowtrace.execution.root'] === true && s.attributes['flowtrace.marker'] === undefined;
      // Three steps whose own span never comes, only their start markers: a row on the first
      // page, a row on a later one, and a child flow whose 1,000 rows hang under it.
      const key = (s: (typeof sdkSpans)[number]) => s.attributes['flowtrace.step.key'];
      const withheld = sdkSpans.filter((s) => s.attributes['flowtrace.marker'] === undefined && ['row-5', 'row-20500', 'chunk-30'].includes(key(s) as string));
      expect(withheld).toHaveLength(3);
      const sent = sdkSpans.filter((s) => !withheld.includes(s));
      const root = sent.filter(isRoot);
      // Projected before any request: a long busy turn between requests can close the pooled
      // connection under the next one (ECONNRESET).
      const projected = (spans: typeof sdkSpans) => projectExecution(normalized(spans), { now: Date.now(), defaultTimeoutMs: 300_000, instanceStarts: [] })!.record;
      const whileRunning = projected(sent.filter((s) => !root.includes(s)));
      const finished = projected(sent);
      const id = finished.id;
      expect(whileRunning.status).toBe('pending');
      expect(whileRunning.nodes.filter((n) => n.status === 'running')).toHaveLength(3);
      expect(finished.nodes.filter((n) => n.error?.type === 'unfinished')).toHaveLength(3);

      const post = async (spans: typeof sdkSpans) => {
        for (let i = 0; i < spans.length; i += BATCH) {
          const response = await fetch(`${running.url}/v1/traces`, {
            method: 'POST',
            body: protobufBody(spans.slice(i, i + BATCH)),
            headers: { 'content-type': 'application/x-protobuf' },
          });
          expect(response.status).toBe(200);
        }
      };
      /** The detail's first page, then every further page, each checked against the projection. */
      const servedAs = async (expected: ExecutionRecord) => {
        const detail = (await getJson(`${running.url}/api/executions/${id}`)).body as ExecutionRecord;
        expect(detail).toMatchObject({ status: expected.status, nodeCount: STEPS });
        expect(detail.nodes).toEqual(expected.nodes.slice(0, 1000));
        expect(detail.nodesNext).toEqual(expect.any(String));
        const nodes: ExecutionNode[] = [...detail.nodes];
        let cursor: string | null = detail.nodesNext!;
        while (cursor) {
          const page: { body: { items: ExecutionNode[]; next: string | null; total: number } } = await getJson(
            `${running.url}/api/executions/${id}/nodes?limit=1000&cursor=${cursor}`,
          );
          expect(page.body.total).toBe(STEPS);
          nodes.push(...page.body.items);
          cursor = page.body.next;
        }
        expect(nodes).toEqual(expected.nodes);
        return detail;
      };

      // Start order, with the execution's own span last, as a long run exports them.
      await post(sent.filter((s) => !root.includes(s)));
      await servedAs(whileRunning);
      await post(root);
      const detail = await servedAs(finished);
      expect(detail.result).toBe(CHUNKS * PER_CHUNK * (CHUNKS * PER_CHUNK - 1));

      const bad = await getJson(`${running.url}/api/executions/${id}/nodes?cursor=not-a-cursor`);
      expect(bad).toEqual({
        status: 400,
        body: { error: 'bad_request', message: '"cursor" must be the "nodesNext" of a record or the "next" of a node page, unchanged (got "not-a-cursor")' },
      });
      expect((await getJson(`${running.url}/api/executions/unknown/nodes`)).status).toBe(404);
    } finally {
      await running.close();
    }
  }, 180_000);
});

