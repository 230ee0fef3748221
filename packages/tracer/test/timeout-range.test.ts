import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { createScope, custom, flow } from '@pumped-fn/core-next';
import { describe, expect, it } from 'vitest';
import { timeoutTag } from '../src/index.js';
import { registerFlowTool } from '../src/mcp/index.js';
import { TIMEOUT_MS_MAX, TIMEOUT_MS_MIN } from '@flowtrace/semconv';

/**
 * A time budget outside [1 ms, 7 days] is a configuration error, refused where it is written —
 * the tag, the flow tool — rather than corrected later by the collector.
 */
const RANGE = 'a timeout must be a number of ms from 1 ms to 604800000 ms (7 days)';
const OUTSIDE = [0, -1, 0.5, 1e-300, TIMEOUT_MS_MAX + 1, Infinity, Number.NaN];
const quick = flow({ name: 'quick', input: custom<void>(), output: custom<number>() }, () => 1);

describe('time budgets outside [1 ms, 7 days]', () => {
  it.each(OUTSIDE)('timeoutTag(%s) throws a RangeError naming the range', (ms) => {
    expect(() => timeoutTag(ms)).toThrow(RangeError);
    expect(() => timeoutTag(ms)).toThrow(`${RANGE}; got ${ms}`);
  });

  it('timeoutTag takes both ends of the range', () => {
    expect(timeoutTag(TIMEOUT_MS_MIN).value).toBe(1);
    expect(timeoutTag(TIMEOUT_MS_MAX).value).toBe(7 * 24 * 3_600_000);
  });

  it.each(OUTSIDE)('registerFlowTool refuses timeoutMs %s before registering anything', (timeoutMs) => {
    const server = new McpServer({ name: 'budgets', version: '1.0.0' });
    const scope = createScope();
    expect(() => registerFlowTool(server, scope, quick, { name: 'quick', timeoutMs })).toThrow(RangeError);
    expect(() => registerFlowTool(server, scope, quick, { name: 'quick', timeoutMs })).toThrow(RANGE);
    // The name is still free: the refused call registered no tool.
    expect(() => registerFlowTool(server, scope, quick, { name: 'quick', timeoutMs: 1_000 })).not.toThrow();
  });
});
