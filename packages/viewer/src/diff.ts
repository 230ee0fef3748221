/** One difference between two JSON values, at a path such as `items[2].sku` ('' for the value itself). */
export interface Change {
  path: string;
  kind: 'added' | 'removed' | 'changed';
  before?: unknown;
  after?: unknown;
}

/** Nesting deeper than this is compared as a whole (the tracer cuts values long before). */
const MAX_DEPTH = 64;

/**
 * The structural differences from `before` to `after`: object keys and array items compared one
 * by one, recursively; a value whose type differs is one change. In path order.
 */
export function diff(before: unknown, after: unknown): Change[] {
  const changes: Change[] = [];
  walk(before, after, '', 0, changes);
  return changes;
}

function walk(before: unknown, after: unknown, path: string, depth: number, changes: Change[]) {
  if (Object.is(before, after)) return;
  const a = container(before);
  const b = container(after);
  if (!a || !b || a !== b || depth >= MAX_DEPTH) {
    if (before === undefined) changes.push({ path, kind: 'added', after });
    else if (after === undefined) changes.push({ path, kind: 'removed', before });
    else if (a && a === b ? JSON.stringify(before) !== JSON.stringify(after) : true) changes.push({ path, kind: 'changed', before, after });
    return;
  }
  if (a === 'array') {
    const left = before as unknown[];
    const right = after as unknown[];
    for (let i = 0; i < Math.max(left.length, right.length); i++) walk(left[i], right[i], `${path}[${i}]`, depth + 1, changes);
    return;
  }
  const left = before as Record<string, unknown>;
  const right = after as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])];
  for (const key of keys) walk(left[key], right[key], /^[A-Za-z_$][\w$]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`, depth + 1, changes);
}

function container(value: unknown): 'array' | 'object' | undefined {
  if (Array.isArray(value)) return 'array';
  return value !== null && typeof value === 'object' ? 'object' : undefined;
}
