import { createScope, custom, flow } from '@pumped-fn/core-next';
import { createTracingExtension } from '@flowtrace/tracer';

/** A flow of one step whose input number shows in the collector's list as the execution's preview. */
export const numbered = flow({ name: 'numbered', input: custom<{ n: number }>(), output: custom<number>() }, async (ctx, { n }) =>
  ctx.exec({ key: 'double', fn: (x: number) => x * 2, params: [n] }),
);

/** Runs `numbered` traced through the global provider; throws unless the flow's own result came back. */
export async function runNumbered(n: number): Promise<void> {
  const result = await createScope({ extensions: [createTracingExtension()] }).exec({ flow: numbered, input: { n } });
  if (result !== n * 2) throw new Error(`numbered(${n}) returned ${String(result)}`);
}

/** The input numbers of the listed executions with `status` (their previews read `n: 7`). */
export function inputsOf(items: Array<{ preview: string; status: string }>, status = 'fulfilled'): number[] {
  return items
    .filter((item) => item.status === status)
    .map((item) => Number(/^n: (\d+)$/.exec(item.preview)?.[1] ?? Number.NaN))
    .sort((a, b) => a - b);
}
