import { ATTR_EXECUTION_ROOT, ATTR_MARKER, MARKER_HEARTBEAT, MARKER_INSTANCE_START, MARKER_START } from './attributes.js';

/**
 * What a span is to flowtrace, read from its attributes — the marker rules both sides keep:
 * - `root`: an execution's own span (`flowtrace.execution.root`, no marker);
 * - `marker`: its start marker, sent when it starts (`flowtrace.marker=start` and the root flag);
 * - `step`: a step's span; `step-marker`: a step's start marker, whose parent is the step's span;
 * - `instance-start` / `heartbeat`: markers about a process, of no execution;
 * - `other-marker`: a marker of a kind this version does not know (ignored, never forwarded).
 * Markers are flowtrace's own bookkeeping: the collector never forwards them.
 */
export type SpanRole = 'root' | 'marker' | 'step' | 'step-marker' | 'instance-start' | 'heartbeat' | 'other-marker';

export function spanRoleOf(attributes: Readonly<Record<string, unknown>>): SpanRole {
  const marker = attributes[ATTR_MARKER];
  const root = attributes[ATTR_EXECUTION_ROOT] === true;
  if (marker === undefined) return root ? 'root' : 'step';
  if (marker === MARKER_START) return root ? 'marker' : 'step-marker';
  if (marker === MARKER_INSTANCE_START) return 'instance-start';
  if (marker === MARKER_HEARTBEAT) return 'heartbeat';
  return 'other-marker';
}
