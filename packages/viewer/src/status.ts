import type { ErrorKind, ExecutionNode, ExecutionRecord, ExecutionStatus, NodeStatus } from './types.js';
import { elapsedSince, formatDuration, isolate } from './format.js';

/** What a status dot can show: an execution's status or a step's (`running` is a step's only). */
export type AnyStatus = ExecutionStatus | NodeStatus;

/**
 * Everything the viewer says about a status, in one table: the colour (a CSS custom property
 * with a default), the word shown next to it (status is never told by colour alone), and the
 * sentence of the tooltip.
 */
export const STATUS: Record<AnyStatus, { label: string; color: string; symbol: string }> = {
  pending: { label: 'Pending', color: 'var(--flowtrace-color-pending, #e8890c)', symbol: '◔' },
  running: { label: 'Running', color: 'var(--flowtrace-color-running, #2b6cb0)', symbol: '▶' },
  fulfilled: { label: 'Fulfilled', color: 'var(--flowtrace-color-fulfilled, #1f9d55)', symbol: '✓' },
  error: { label: 'Error', color: 'var(--flowtrace-color-error, #d64545)', symbol: '✕' },
};

const ERROR_KIND: Record<ErrorKind, string> = {
  exception: 'a step threw',
  tool_error: 'the tool returned an error',
  timeout: 'timed out',
  cancelled: 'cancelled',
  interrupted: 'interrupted: the service restarted before it finished',
};

export interface StatusFacts {
  status: ExecutionStatus;
  errorKind?: ErrorKind;
  errorMessage?: string;
  durationMs?: number;
  timeoutMs?: number;
  /** The step a pending execution waits on. */
  runningStep?: { name: string; startedAt: string };
}

/**
 * The tooltip sentence: "Pending — execution in progress", "Error — timed out after 5 min", …
 * With `now`, a pending execution's wait is timed ("waiting on step reserve for 12 s"); without
 * it the sentence stays still, for labels and live regions that must not change every second.
 */
export function describeStatus(facts: StatusFacts, now?: number): string {
  const { label } = STATUS[facts.status];
  if (facts.status === 'pending') {
    const step = facts.runningStep;
    if (!step) return `${label} — execution in progress`;
    const waiting = `${label} — waiting on ${stepPhrase(step.name)}`;
    return now === undefined ? waiting : `${waiting} for ${elapsedSince(step.startedAt, now)}`;
  }
  if (facts.status === 'fulfilled') {
    return facts.durationMs === undefined ? `${label} — finished` : `${label} — finished in ${formatDuration(facts.durationMs)}`;
  }
  if (facts.errorKind === 'timeout' && facts.timeoutMs) return `${label} — timed out after ${formatDuration(facts.timeoutMs)}`;
  const kind = facts.errorKind ? ERROR_KIND[facts.errorKind] : 'failed';
  return facts.errorMessage && facts.errorKind !== 'interrupted' && facts.errorKind !== 'timeout'
    ? `${label} — ${kind}: ${isolate(facts.errorMessage)}`
    : `${label} — ${kind}`;
}

/** How long a step that ended took; undefined while it runs or when its end is unknown (never "0 µs"). */
export function nodeDuration(node: ExecutionNode): string | undefined {
  if (node.status === 'running') return undefined;
  const ms = node.durationMs ?? (node.endedAt ? Date.parse(node.endedAt) - Date.parse(node.startedAt) : NaN);
  return Number.isFinite(ms) && ms >= 0 ? formatDuration(ms) : undefined;
}

/** A step's tooltip sentence: "Running — started 12 s ago", "Error — card declined", "Fulfilled". */
export function describeNode(node: ExecutionNode, now: number): string {
  const { label } = STATUS[node.status] ?? STATUS.pending;
  if (node.status === 'running') return `${label} — started ${elapsedSince(node.startedAt, now)} ago`;
  return node.error ? `${label} — ${isolate(node.error.message)}` : label;
}

/**
 * How a list row names the step its execution waits on: node names already start with their
 * kind ("step reserve", "flow validate"); other span names get "step" in front.
 */
export function stepPhrase(name: string): string {
  return /^(step|flow|parallel)\b/.test(name) ? isolate(name) : `step ${isolate(name)}`;
}

/** Whether a record shows a running time: it is pending, or a step of it still runs. */
export function showsRunning(record: ExecutionRecord | undefined): boolean {
  return record !== undefined && (record.status === 'pending' || record.nodes.some((node) => node.status === 'running'));
}

/**
 * The step a pending record waits on, as the list item's `runningStep` names it: the deepest
 * running step, the latest started among equals.
 */
export function runningStepOf(nodes: readonly ExecutionNode[]): ExecutionNode | undefined {
  let found: ExecutionNode | undefined;
  for (const node of nodes) {
    if (node.status !== 'running') continue;
    if (!found || node.depth > found.depth || (node.depth === found.depth && node.startedAt >= found.startedAt)) found = node;
  }
  return found;
}
