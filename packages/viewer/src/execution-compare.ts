import { css, html, LitElement, nothing } from 'lit';
import { diff, type Change } from './diff.js';
import { formatDuration, formatTime, isolate } from './format.js';
import { describeNode, describeStatus, STATUS } from './status.js';
import './status-dot.js';
import { depthFirst, stepTree } from './step-tree.js';
import { theme } from './theme.js';
import type { ExecutionNode, ExecutionRecord } from './types.js';

/** A step of either execution, matched by its path of keys (`hold/lock`), the first of a repeated path as `#1`, then `#2`… */
export interface StepPair {
  path: string;
  level: number;
  left?: ExecutionNode;
  right?: ExecutionNode;
}

/** Each step with its path of keys from the top, depth first. */
function stepPaths(record: ExecutionRecord): Array<{ path: string; level: number; node: ExecutionNode }> {
  const pathOf = new Map<string, string>();
  const seen = new Map<string, number>();
  const steps = [];
  for (const { node, number } of depthFirst(stepTree(record.nodes))) {
    const parent = node.parentId === null ? undefined : pathOf.get(node.parentId);
    const plain = `${parent === undefined ? '' : `${parent}/`}${node.key ?? node.name}`;
    const count = (seen.get(plain) ?? 0) + 1;
    seen.set(plain, count);
    const path = count === 1 ? plain : `${plain}#${count}`;
    pathOf.set(node.id, path);
    steps.push({ path, level: number.split('.').length, node });
  }
  return steps;
}

/** The two executions' steps side by side: the left's in order, then steps only the right ran. */
export function pairSteps(left: ExecutionRecord, right: ExecutionRecord): StepPair[] {
  const rights = new Map(stepPaths(right).map((step) => [step.path, step]));
  const pairs: StepPair[] = stepPaths(left).map(({ path, level, node }) => {
    const other = rights.get(path);
    rights.delete(path);
    return { path, level, left: node, right: other?.node };
  });
  for (const { path, level, node } of rights.values()) pairs.push({ path, level, right: node });
  return pairs;
}

/** The step's duration when it ended, for the delta. */
function ended(node: ExecutionNode | undefined): number | undefined {
  return node && node.status !== 'running' ? node.durationMs : undefined;
}

/**
 * Two executions of a flow side by side, step by step: each step's status and duration in
 * either, the duration's change, and what changed in its input and output (a structural diff);
 * the parameters' and results' differences above and below.
 *
 * @element flowtrace-execution-compare
 * @prop left - the ExecutionRecord compared from
 * @prop right - the ExecutionRecord compared with
 * @csspart header, params-diff, steps-diff, step-pair, changed-status, delta, changes, result-diff
 */
export class FlowtraceExecutionCompare extends LitElement {
  static override properties = {
    left: { attribute: false },
    right: { attribute: false },
  };

  declare left: ExecutionRecord | undefined;
  declare right: ExecutionRecord | undefined;

  constructor() {
    super();
    this.left = undefined;
    this.right = undefined;
  }

  static override styles = [
    theme,
    css`
      :host {
        display: block;
        overflow: auto;
      }
      .sides {
        display: grid;
        grid-template-columns: 1fr 1fr;
        gap: 0.75em;
      }
      .side {
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        padding: 0.5em 0.7em;
        font-size: 0.9em;
      }
      .side h2 {
        margin: 0 0 0.2em;
        font-size: 1em;
        display: flex;
        gap: 0.4em;
        align-items: center;
      }
      .muted {
        color: var(--_muted);
      }
      .mono {
        font-family: var(--_mono);
        overflow-wrap: anywhere;
      }
      h3 {
        margin: 1em 0 0.3em;
        font-size: 0.95em;
      }
      table {
        width: 100%;
        border-collapse: collapse;
        font-size: 0.9em;
      }
      th,
      td {
        text-align: left;
        padding: 0.3em 0.5em;
        border-bottom: 1px solid var(--_border);
        vertical-align: top;
      }
      td.delta {
        text-align: right;
        font-variant-numeric: tabular-nums;
        white-space: nowrap;
      }
      tr.changed-status {
        background: color-mix(in srgb, var(--flowtrace-color-error, #d64545) 8%, transparent);
      }
      .cell {
        display: flex;
        gap: 0.35em;
        align-items: center;
        white-space: nowrap;
      }
      ul {
        margin: 0.2em 0 0;
        padding-left: 1.1em;
        font-family: var(--_mono);
        font-size: 0.9em;
      }
      .added {
        /* Text, not a dot: darker than the fulfilled colour, to read at 4.5:1. */
        color: var(--flowtrace-added-text, #146c3a);
      }
      .removed {
        color: var(--_error-text);
      }
    `,
  ];

  override render() {
    const { left, right } = this;
    if (!left || !right) return nothing;
    const pairs = pairSteps(left, right);
    return html`
      <div part="header" class="sides">${this.side(left, 'Compared from')}${this.side(right, 'Compared with')}</div>
      <h3>Parameters</h3>
      <div part="params-diff">${changeList(diff(left.initialParams, right.initialParams), 'Same parameters.')}</div>
      <h3>Steps</h3>
      <table part="steps-diff">
        <thead><tr><th scope="col">Step</th><th scope="col">From</th><th scope="col">With</th><th scope="col">Δ duration</th><th scope="col">Data</th></tr></thead>
        <tbody>${pairs.map((pair) => this.pair(pair))}</tbody>
      </table>
      <h3>Result</h3>
      <div part="result-diff">${changeList(diff(left.result, right.result), 'Same result.')}</div>
    `;
  }

  private side(record: ExecutionRecord, title: string) {
    return html`<div class="side">
      <div class="muted">${title}</div>
      <h2>
        <flowtrace-status-dot .status=${record.status} .description=${describeStatus({ ...record, errorMessage: record.errorInfo?.message })} show-label></flowtrace-status-dot>
        <span>${isolate(record.flowName)}</span>
      </h2>
      <div>${formatTime(record.startedAt)}${record.durationMs === undefined ? '' : ` · ${formatDuration(record.durationMs)}`}</div>
      <div class="mono muted">${record.id}</div>
    </div>`;
  }

  private pair({ path, level, left, right }: StepPair) {
    const from = ended(left);
    const to = ended(right);
    const delta = from !== undefined && to !== undefined ? to - from : undefined;
    const changedStatus = left?.status !== right?.status;
    const changes = diff(left && { input: left.input, output: left.output }, right && { input: right.input, output: right.output });
    const name = (left ?? right)!.name;
    return html`<tr part=${changedStatus ? 'step-pair changed-status' : 'step-pair'} class=${changedStatus ? 'changed-status' : ''} data-path=${path}>
      <th scope="row" style="padding-left:${0.5 + (level - 1) * 1}em">${isolate(name)}</th>
      <td data-side="left">${stepCell(left)}</td>
      <td data-side="right">${stepCell(right)}</td>
      <td part="delta" class="delta" data-delta-ms=${delta ?? nothing}>${delta === undefined ? '–' : signed(delta)}</td>
      <td part="changes">${!left || !right
        ? html`<span class="muted">${left ? 'only in the first' : 'only in the second'}</span>`
        : changes.length === 0
          ? html`<span class="muted">same</span>`
          : html`<details><summary>${changes.length} change${changes.length === 1 ? '' : 's'}</summary>${changeList(changes, '')}</details>`}</td>
    </tr>`;
  }
}

function stepCell(node: ExecutionNode | undefined) {
  if (!node) return html`<span class="muted">not run</span>`;
  const took = ended(node);
  return html`<span class="cell">
    <flowtrace-status-dot .status=${node.status} .description=${describeNode(node, Date.now())} tip="beside"></flowtrace-status-dot>
    <span>${STATUS[node.status]?.label ?? node.status}${took === undefined ? '' : ` · ${formatDuration(took)}`}</span>
  </span>`;
}

/** "+12 ms", "−3 ms", "±0". */
function signed(ms: number): string {
  if (ms === 0) return '±0';
  return `${ms > 0 ? '+' : '−'}${formatDuration(Math.abs(ms))}`;
}

function changeList(changes: readonly Change[], same: string) {
  if (changes.length === 0) return html`<span class="muted">${same}</span>`;
  return html`<ul>${changes.map(
    (change) => html`<li class=${change.kind} data-kind=${change.kind} data-path=${change.path}>
      ${change.path || '(the value)'}: ${change.kind === 'added' ? html`added ${shown(change.after)}` : change.kind === 'removed' ? html`removed ${shown(change.before)}` : html`${shown(change.before)} → ${shown(change.after)}`}
    </li>`,
  )}</ul>`;
}

/** A value in one line, cut at 80 characters, isolated as user text. */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return isolate(text.length > 80 ? `${text.slice(0, 79)}…` : text);
}

customElements.get('flowtrace-execution-compare') ?? customElements.define('flowtrace-execution-compare', FlowtraceExecutionCompare);

declare global {
  interface HTMLElementTagNameMap {
    'flowtrace-execution-compare': FlowtraceExecutionCompare;
  }
}
