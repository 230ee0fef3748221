import type { ErrorKind, ExecutionStatus } from './types.js';
import { formatDuration } from './format.js';

/**
 * Everything the viewer says about a status, in one table: the colour (a CSS custom property
 * with a default), the word shown next to it (status is never told by colour alone), and the
 * sentence of the tooltip.
 */
export const STATUS: Record<ExecutionStatus, { label: string; color: string; symbol: string }> = {
  pending: { label: 'Pending', color: 'var(--flowtrace-color-pending, #e8890c)', symbol: '◔' },
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
}

/** The tooltip sentence: "Pending — execution in progress", "Error — timed out after 5 min", … */
export function describeStatus(facts: StatusFacts): string {
  const { label } = STATUS[facts.status];
  if (facts.status === 'pending') return `${label} — execution in progress`;
  if (facts.status === 'fulfilled') {
    return facts.durationMs === undefined ? `${label} — finished` : `${label} — finished in ${formatDuration(facts.durationMs)}`;
  }
  if (facts.errorKind === 'timeout' && facts.timeoutMs) return `${label} — timed out after ${formatDuration(facts.timeoutMs)}`;
  const kind = facts.errorKind ? ERROR_KIND[facts.errorKind] : 'failed';
  return facts.errorMessage && facts.errorKind !== 'interrupted' && facts.errorKind !== 'timeout'
    ? `${label} — ${kind}: ${facts.errorMessage}`
    : `${label} — ${kind}`;
}
