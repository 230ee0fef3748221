import { custom, flow } from '@pumped-fn/core-next';

/**
 * The demo's business flows. Each step is a `ctx.exec` with a key, so the Usage tab shows it
 * as a node with its input, output and the data after it.
 */

export interface OrderInput {
  customer: string;
  items: Array<{ sku: string; qty: number }>;
  card: string;
}

const PRICES: Record<string, number> = { 'tea-green': 4.5, 'tea-black': 3.9, mug: 12, kettle: 39 };
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    }, { once: true });
  });

/** validate → price → reserve stock → charge */
export const placeOrder = flow(
  { name: 'place-order', input: custom<OrderInput>(), output: custom<{ orderId: string; total: number; charged: string }>() },
  async (ctx, order) => {
    const lines = await ctx.exec({
      key: 'validate',
      fn: (items: OrderInput['items']) => {
        if (items.length === 0) throw new Error('an order needs at least one item');
        for (const item of items) {
          if (!(item.sku in PRICES)) throw new Error(`unknown product "${item.sku}"`);
          if (item.qty <= 0) throw new RangeError(`quantity of ${item.sku} must be positive`);
        }
        return items.length;
      },
      params: [order.items],
    });
    const total = await ctx.exec({
      key: 'price',
      fn: (items: OrderInput['items']) => Math.round(items.reduce((sum, i) => sum + PRICES[i.sku]! * i.qty, 0) * 100) / 100,
      params: [order.items],
    });
    const reservation = await ctx.exec({
      key: 'reserve-stock',
      fn: async (count: number) => {
        await sleep(80 + Math.random() * 120);
        return { reservation: `R-${Date.now().toString(36)}`, lines: count };
      },
      params: [lines],
    });
    const charged = await ctx.exec({
      key: 'charge',
      fn: async (card: string, amount: number) => {
        await sleep(120 + Math.random() * 200);
        if (card.endsWith('0000')) throw new Error(`card ending ${card.slice(-4)} was declined`);
        return `charged ${amount.toFixed(2)} EUR to card ending ${card.slice(-4)}`;
      },
      params: [order.card, total],
    });
    return { orderId: reservation.reservation.replace('R-', 'O-'), total, charged };
  },
);

export type Stage = 'extract' | 'transform' | 'load';
interface StockRow {
  sku: string;
  stock: number;
}

/** extract → transform → load, failing at the stage the caller names. */
export const syncInventory = flow(
  { name: 'sync-inventory', input: custom<{ source: string; failAt?: Stage }>(), output: custom<{ synced: number }>() },
  async (ctx, input) => {
    const failIf = (stage: Stage) => {
      if (input.failAt === stage) throw new Error(`${stage} failed: ${input.source} did not answer`);
    };
    const rows = await ctx.exec({
      key: 'extract',
      fn: async (): Promise<StockRow[]> => {
        await sleep(60);
        failIf('extract');
        return [{ sku: 'mug', stock: 12 }, { sku: 'kettle', stock: 3 }, { sku: 'tea-green', stock: 140 }];
      },
    });
    const changes = await ctx.exec({
      key: 'transform',
      fn: async (list: StockRow[]) => {
        await sleep(40);
        failIf('transform');
        return list.filter((row) => row.stock < 100);
      },
      params: [rows],
    });
    const synced = await ctx.exec({
      key: 'load',
      fn: async (list: StockRow[]) => {
        await sleep(50);
        failIf('load');
        return list.length;
      },
      params: [changes],
    });
    return { synced };
  },
);

/** Slow enough to watch it run: three stages of about 2 s each. */
export const monthlyReport = flow(
  { name: 'monthly-report', input: custom<{ month: string; stageMs?: number }>(), output: custom<{ month: string; pages: number }>() },
  async (ctx, input) => {
    const stageMs = input.stageMs ?? 2000;
    const orders = await ctx.exec({ key: 'gather', fn: async () => (await sleep(stageMs, ctx.signal), 1284) });
    const revenue = await ctx.exec({ key: 'analyse', fn: async (n: number) => (await sleep(stageMs, ctx.signal), n * 17.35), params: [orders] });
    const pages = await ctx.exec({ key: 'render', fn: async (total: number) => (await sleep(stageMs, ctx.signal), Math.ceil(total / 2000)), params: [revenue] });
    return { month: input.month, pages };
  },
);
