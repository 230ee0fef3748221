import { createScope, custom, flow } from '@pumped-fn/core-next';
import { createTracingExtension } from '@flowtrace/tracer';
import type { TracingHandle } from '../../src/index.js';

/** A flow of one step: `flow double` with `step multiply` under it. */
export const double = flow({ name: 'double', input: custom<number>(), output: custom<number>() }, async (ctx, n) =>
  ctx.exec({ fn: (x: number) => x * 2, params: [n], key: 'multiply' }),
);

/** Runs `double` traced through the global provider, then shuts tracing down (which flushes). */
export async function runTraced(handle: TracingHandle): Promise<void> {
  const scope = createScope({ extensions: [createTracingExtension()] });
  const result = await scope.exec({ flow: double, input: 21 });
  if (result !== 42) throw new Error(`double(21) returned ${String(result)}`);
  await handle.shutdown();
}
