import type { ExecutionNode } from './types.js';

/** A step with its place in the tree: "1.2" is the second step of the first. */
export interface StepEntry {
  node: ExecutionNode;
  number: string;
  children: StepEntry[];
}

/**
 * The steps as a tree built from `parentId`: each step's children in the order they started
 * (the tracer's `index`, then start time, then id, as the collector orders them), numbered by
 * their nesting. A step whose parent is not among `nodes` (the execution's own span, or a parent
 * on a page of steps not loaded) is a top-level step. Nodes can come in any order.
 */
export function stepTree(nodes: readonly ExecutionNode[]): StepEntry[] {
  // The detail and the timeline ask for the same record's tree: build it once per steps array.
  let tree = built.get(nodes);
  if (!tree) built.set(nodes, (tree = buildTree(nodes)));
  return tree;
}

const built = new WeakMap<readonly ExecutionNode[], StepEntry[]>();

function buildTree(nodes: readonly ExecutionNode[]): StepEntry[] {
  const ids = new Set(nodes.map((node) => node.id));
  const children = new Map<string | null, ExecutionNode[]>();
  for (const node of nodes) {
    const parent = node.parentId !== null && ids.has(node.parentId) ? node.parentId : null;
    const siblings = children.get(parent);
    if (siblings) siblings.push(node);
    else children.set(parent, [node]);
  }
  // Iterative, not recursive: an execution may nest thousands of steps deep.
  const roots: StepEntry[] = [];
  const stack: Array<{ parent: string | null; into: StepEntry[]; prefix: string }> = [{ parent: null, into: roots, prefix: '' }];
  while (stack.length > 0) {
    const { parent, into, prefix } = stack.pop()!;
    (children.get(parent) ?? []).sort(siblingOrder).forEach((node, i) => {
      const entry: StepEntry = { node, number: `${prefix}${i + 1}`, children: [] };
      into.push(entry);
      if (children.has(node.id)) stack.push({ parent: node.id, into: entry.children, prefix: `${entry.number}.` });
    });
  }
  return roots;
}

/** The entries depth first: each step followed by its own steps, the order they ran in. */
export function* depthFirst(entries: readonly StepEntry[]): Generator<StepEntry> {
  const stack = [...entries].reverse();
  while (stack.length > 0) {
    const entry = stack.pop()!;
    yield entry;
    for (let i = entry.children.length - 1; i >= 0; i--) stack.push(entry.children[i]!);
  }
}

function siblingOrder(a: ExecutionNode, b: ExecutionNode): number {
  const index = (a.index ?? Number.MAX_SAFE_INTEGER) - (b.index ?? Number.MAX_SAFE_INTEGER);
  if (index !== 0) return index;
  const start = Date.parse(a.startedAt) - Date.parse(b.startedAt);
  return start !== 0 ? start : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
