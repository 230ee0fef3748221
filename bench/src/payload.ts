/**
 * Realistic step data for the tracer benchmarks: an order as a service would pass it between
 * steps, about 3 KB of JSON with ids, timestamps, nested objects, short and longer strings.
 */
export interface Order {
  orderId: string;
  createdAt: string;
  updatedAt: number;
  status: string;
  customer: { id: string; name: string; email: string; tier: string; address: { street: string; city: string; zip: string; country: string } };
  lines: Array<{ sku: string; name: string; qty: number; unitPrice: number; currency: string; tags: string[]; warehouse: string }>;
  totals: { subtotal: number; tax: number; shipping: number; total: number };
  notes: string;
  history: Array<{ at: string; event: string; by: string }>;
}

export function order(seed: number): Order {
  const lines = Array.from({ length: 11 }, (_, i) => ({
    sku: `SKU-${(seed * 31 + i * 7) % 10_000}`,
    name: `Loose-leaf tea, tin ${i + 1} (${['green', 'black', 'oolong', 'white'][i % 4]})`,
    qty: 1 + ((seed + i) % 5),
    unitPrice: 3.9 + i * 1.25,
    currency: 'EUR',
    tags: ['tea', i % 2 ? 'organic' : 'classic', `batch-${2026 + (i % 3)}`],
    warehouse: `wh-${['fra', 'ams', 'par'][i % 3]}-0${i % 4}`,
  }));
  const subtotal = lines.reduce((sum, l) => sum + l.qty * l.unitPrice, 0);
  return {
    orderId: `ord_${(seed * 2654435761) % 2 ** 32}`.padEnd(20, '0'),
    createdAt: new Date(1_760_000_000_000 + seed * 1000).toISOString(),
    updatedAt: 1_760_000_000_000 + seed * 1000 + 517,
    status: 'pending',
    customer: {
      id: `cus_${seed.toString(36).padStart(8, '0')}`,
      name: 'Ann Example-Müller',
      email: `ann.${seed}@example.com`,
      tier: 'gold',
      address: { street: '12 Long Street, Flat 4', city: 'Amsterdam', zip: '1011 AB', country: 'NL' },
    },
    lines,
    totals: { subtotal, tax: subtotal * 0.21, shipping: 4.95, total: subtotal * 1.21 + 4.95 },
    notes: 'Please leave the parcel with the neighbour at number 14 if nobody answers; the bell is broken. Gift wrap the green tea tins separately, with a card saying "happy birthday".',
    history: Array.from({ length: 8 }, (_, i) => ({ at: new Date(1_760_000_000_000 + seed * 1000 + i * 60_000).toISOString(), event: ['created', 'priced', 'reserved', 'paid', 'packed', 'shipped', 'in-transit', 'delivered'][i]!, by: `svc-${i}` })),
  };
}
