import { css, html, nothing, svg, type PropertyValues } from 'lit';
import { formatDuration, formatTime, isolate } from './format.js';
import { SourceError } from './source.js';
import { SourcedElement } from './sourced-element.js';
import { STATUS } from './status.js';
import { theme } from './theme.js';
import type { ExecutionStatus, FlowMetrics, MetricsBucket, MetricsBucketSize } from './types.js';

const MINUTE = 60_000;
/** The collector's bucket sizes; `satisfies` fails the build when it gains one this does not know. */
const BUCKET_MS = { '1m': MINUTE, '5m': 5 * MINUTE, '15m': 15 * MINUTE, '1h': 60 * MINUTE, '6h': 360 * MINUTE, '1d': 1440 * MINUTE } as const satisfies Record<
  MetricsBucketSize,
  number
>;
/** Bars a chart a few hundred pixels wide can show apart. */
const MAX_BARS = 60;
/** The range shown when the filters set none. */
export const DEFAULT_RANGE_MS = 24 * 60 * MINUTE;
/** Live changes come in bursts: read the metrics again once they settle. */
const REFRESH_MS = 1000;
/** Bottom to top. */
const STACK: readonly ExecutionStatus[] = ['fulfilled', 'error', 'pending'];
const HEIGHT = 120;
const PAD = { top: 10, right: 56, bottom: 20, left: 36 };

/** The smallest bucket that cuts the range into at most MAX_BARS bars. */
export function bucketFor(rangeMs: number): MetricsBucketSize {
  const sizes = Object.entries(BUCKET_MS) as Array<[MetricsBucketSize, number]>;
  return (sizes.find(([, ms]) => rangeMs / ms <= MAX_BARS) ?? sizes[sizes.length - 1]!)[0];
}

const total = (bucket: MetricsBucket) => STACK.reduce((sum, status) => sum + bucket.counts[status], 0);

/**
 * A flow's executions over time from the collector's metrics: a bar per time bucket stacked by
 * status, the p95 duration as a line on its own scale, a one-line summary (counts, error rate,
 * slowest p95) and the figures as a table. Drawn as SVG by the element itself, no chart library.
 *
 * @element flowtrace-execution-metrics
 * @attr flow-id - the flow
 * @attr from, to - the range (ISO times); without `to`, up to now
 * @attr span - without `from`, the range is this many ms up to `to` (default 24 h), counted again at each read
 * @attr api-base, token - the collector (or the `source` property)
 * @prop revision - change it to read the metrics again (the usage tab does on each live change)
 * @csspart chart, summary (also says when the metrics cannot be read), plot, bar, duration-line, axis, table
 */
export class FlowtraceExecutionMetrics extends SourcedElement {
  static override properties = {
    flowId: { attribute: 'flow-id' },
    from: {},
    to: {},
    span: { type: Number },
    revision: { type: Number },
    metrics: { state: true },
    error: { state: true },
    width: { state: true },
  };

  declare flowId: string;
  declare from: string | undefined;
  declare to: string | undefined;
  declare span: number;
  declare revision: number;
  declare metrics: FlowMetrics | undefined;
  declare error: string | undefined;
  /** The plot's width in pixels, as laid out. */
  declare width: number;

  private request: AbortController | undefined;
  private refresh: ReturnType<typeof setTimeout> | undefined;
  private readonly resizer = new ResizeObserver(([entry]) => {
    this.width = Math.round(entry?.contentRect.width ?? 0);
  });

  constructor() {
    super();
    this.flowId = '';
    this.from = undefined;
    this.to = undefined;
    this.span = DEFAULT_RANGE_MS;
    this.revision = 0;
    this.metrics = undefined;
    this.error = undefined;
    this.width = 0;
  }

  static override styles = [
    theme,
    css`
      :host {
        display: block;
      }
      figure {
        margin: 0;
      }
      figcaption {
        font-size: 0.85em;
        color: var(--_muted);
        display: flex;
        flex-wrap: wrap;
        gap: 0.2em 1em;
        align-items: baseline;
      }
      .legend {
        display: inline-flex;
        gap: 0.8em;
      }
      .swatch {
        display: inline-block;
        width: 0.7em;
        height: 0.7em;
        border-radius: 2px;
        margin-right: 0.25em;
      }
      .line-swatch {
        display: inline-block;
        width: 1em;
        border-top: 2px solid var(--flowtrace-fg, #1d2330);
        vertical-align: middle;
        margin-right: 0.25em;
      }
      svg {
        display: block;
        width: 100%;
        height: ${HEIGHT}px;
      }
      text {
        font-size: 10px;
        fill: var(--_muted);
      }
      .grid {
        stroke: var(--_border);
      }
      .duration {
        fill: none;
        stroke: var(--flowtrace-fg, #1d2330);
        stroke-width: 1.5;
      }
      details {
        font-size: 0.85em;
      }
      table {
        border-collapse: collapse;
        margin-top: 0.3em;
        font-variant-numeric: tabular-nums;
      }
      th,
      td {
        padding: 0.1em 0.6em;
        text-align: right;
        border-bottom: 1px solid var(--_border);
      }
      th:first-child,
      td:first-child {
        text-align: left;
      }
    `,
  ];

  override connectedCallback() {
    super.connectedCallback();
    if (this.hasUpdated) this.observe();
  }

  override disconnectedCallback() {
    super.disconnectedCallback();
    this.resizer.disconnect();
    clearTimeout(this.refresh);
    this.request?.abort();
  }

  protected override firstUpdated() {
    this.observe();
  }

  private observe() {
    const plot = this.renderRoot.querySelector('svg');
    if (plot) this.resizer.observe(plot);
  }

  protected override willUpdate(changed: PropertyValues<this>) {
    super.willUpdate(changed);
    if (!this.isConnected || !this.flowId) return;
    if (['flowId', 'from', 'to', 'span', 'apiBase', 'token', 'source'].some((key) => (changed as Map<string, unknown>).has(key))) {
      if (changed.has('flowId')) this.metrics = undefined;
      void this.load();
    } else if (changed.has('revision')) {
      clearTimeout(this.refresh);
      this.refresh = setTimeout(() => void this.load(), REFRESH_MS);
    }
  }

  private async load() {
    clearTimeout(this.refresh);
    this.request?.abort();
    const source = this.data;
    if (!source.getMetrics) {
      this.error = 'This source has no metrics.';
      return;
    }
    const request = (this.request = new AbortController());
    const to = this.to ? Date.parse(this.to) : Date.now();
    const from = this.from ? Date.parse(this.from) : to - this.span;
    try {
      const bucket = bucketFor(to - from);
      this.metrics = await source.getMetrics(this.flowId, { from: new Date(from).toISOString(), to: new Date(to).toISOString(), bucket }, request.signal);
      this.error = undefined;
    } catch (error) {
      if (request.signal.aborted) return;
      this.error = error instanceof SourceError || error instanceof Error ? error.message : 'The metrics could not be loaded.';
    }
  }

  override render() {
    const metrics = this.metrics;
    return html`<figure part="chart" data-from=${metrics?.from ?? nothing} data-to=${metrics?.to ?? nothing} data-bucket=${metrics?.bucket ?? nothing}>
      <figcaption>
        <span part="summary" id="summary" role="status">${
          // A failed read is the list's to explain (it fails the same way): here, a note.
          this.error ? `Metrics unavailable: ${this.error}` : metrics ? summary(metrics) : 'Loading the flow’s metrics…'
        }</span>
        <span class="legend" aria-hidden="true">
          ${STACK.map((status) => html`<span><span class="swatch" style="background:${STATUS[status].color}"></span>${STATUS[status].label}</span>`)}
          <span><span class="line-swatch"></span>p95 duration</span>
        </span>
      </figcaption>
      <svg part="plot" role="img" aria-labelledby="summary" viewBox="0 0 ${Math.max(this.width, 1)} ${HEIGHT}">
        ${metrics && this.width > PAD.left + PAD.right ? this.plot(metrics, this.width) : nothing}
      </svg>
      ${metrics ? this.table(metrics) : nothing}
    </figure>`;
  }

  private plot(metrics: FlowMetrics, width: number) {
    const buckets = metrics.buckets;
    const inner = { x: PAD.left, y: PAD.top, w: width - PAD.left - PAD.right, h: HEIGHT - PAD.top - PAD.bottom };
    const most = Math.max(1, ...buckets.map(total));
    const slowest = Math.max(0, ...buckets.map((bucket) => bucket.durationMs?.p95 ?? 0));
    const step = inner.w / Math.max(1, buckets.length);
    const barWidth = Math.max(1, step * 0.8);
    const y = (count: number) => inner.y + inner.h - (count / most) * inner.h;
    const yDuration = (ms: number) => inner.y + inner.h - (slowest > 0 ? (ms / slowest) * inner.h : 0);
    const bars = buckets.flatMap((bucket, i) => {
      let below = 0;
      return STACK.flatMap((status) => {
        const count = bucket.counts[status];
        if (count === 0) return [];
        const top = y(below + count);
        const rect = svg`<rect part="bar" data-status=${status} data-count=${count} data-start=${bucket.start}
          x=${inner.x + i * step + (step - barWidth) / 2} y=${top} width=${barWidth} height=${y(below) - top}
          fill=${STATUS[status].color}><title>${bucketTitle(bucket, metrics)}</title></rect>`;
        below += count;
        return [rect];
      });
    });
    // The p95 line, broken where a bucket has no finished execution.
    const segments: string[][] = [[]];
    buckets.forEach((bucket, i) => {
      if (bucket.durationMs) segments[segments.length - 1]!.push(`${inner.x + i * step + step / 2},${yDuration(bucket.durationMs.p95)}`);
      else if (segments[segments.length - 1]!.length > 0) segments.push([]);
    });
    const first = buckets[0];
    const last = buckets[buckets.length - 1];
    const bottom = inner.y + inner.h;
    return svg`
      <line class="grid" x1=${inner.x} x2=${inner.x + inner.w} y1=${bottom} y2=${bottom}></line>
      <line class="grid" x1=${inner.x} x2=${inner.x + inner.w} y1=${inner.y} y2=${inner.y} stroke-dasharray="2 3"></line>
      <g part="axis">
        <text x=${inner.x - 4} y=${inner.y + 4} text-anchor="end">${most}</text>
        <text x=${inner.x - 4} y=${bottom} text-anchor="end">0</text>
        ${slowest > 0 ? svg`<text x=${inner.x + inner.w + 4} y=${inner.y + 4}>${formatDuration(slowest)}</text>` : nothing}
        ${first ? svg`<text x=${inner.x} y=${HEIGHT - 4}>${axisTime(first.start, metrics.bucket)}</text>` : nothing}
        ${last && last !== first ? svg`<text x=${inner.x + inner.w} y=${HEIGHT - 4} text-anchor="end">${axisTime(last.start, metrics.bucket)}</text>` : nothing}
      </g>
      ${bars}
      ${segments
        .filter((points) => points.length > 0)
        .map((points) =>
          points.length === 1
            ? svg`<circle part="duration-line" class="duration" cx=${points[0]!.split(',')[0]} cy=${points[0]!.split(',')[1]} r="2"></circle>`
            : svg`<polyline part="duration-line" class="duration" points=${points.join(' ')}></polyline>`,
        )}
    `;
  }

  /** The figures behind the chart, one row per bucket that saw executions. */
  private table(metrics: FlowMetrics) {
    const rows = metrics.buckets.filter((bucket) => total(bucket) > 0);
    return html`<details part="table">
      <summary>Show as a table</summary>
      ${rows.length === 0
        ? html`<p>No executions in this range.</p>`
        : html`<table>
            <thead><tr><th scope="col">From</th>${STACK.map((status) => html`<th scope="col">${STATUS[status].label}</th>`)}<th scope="col">Error rate</th><th scope="col">p50</th><th scope="col">p95</th><th scope="col">p99</th><th scope="col">Max</th></tr></thead>
            <tbody>${rows.map(
              (bucket) => html`<tr data-start=${bucket.start}>
                <td>${formatTime(bucket.start)}</td>
                ${STACK.map((status) => html`<td data-status=${status}>${bucket.counts[status]}</td>`)}
                <td data-error-rate>${percent(bucket.errorRate)}</td>
                ${(['p50', 'p95', 'p99', 'max'] as const).map((key) => html`<td data-duration=${key}>${bucket.durationMs ? formatDuration(bucket.durationMs[key]) : '–'}</td>`)}
              </tr>`,
            )}</tbody>
          </table>`}
    </details>`;
  }
}

/** An error rate (failed among finished) as a percentage; a dash when none finished (null). */
function percent(rate: number | null): string {
  return rate === null ? '–' : `${Math.round(rate * 1000) / 10} %`;
}

/** "42 executions: 30 fulfilled, 10 error, 2 pending · error rate 25 % · p95 up to 120 ms". */
function summary(metrics: FlowMetrics): string {
  const sums = Object.fromEntries(STACK.map((status) => [status, metrics.buckets.reduce((sum, bucket) => sum + bucket.counts[status], 0)])) as Record<ExecutionStatus, number>;
  const count = STACK.reduce((sum, status) => sum + sums[status], 0);
  if (count === 0) return `${isolate(metrics.flowId)}: no executions in this range.`;
  const slowest = Math.max(0, ...metrics.buckets.map((bucket) => bucket.durationMs?.p95 ?? 0));
  const parts = [
    `${count} execution${count === 1 ? '' : 's'}: ${STACK.map((status) => `${sums[status]} ${STATUS[status].label.toLowerCase()}`).join(', ')}`,
    // The range's rate from its counts: the buckets' rates cannot be averaged.
    `error rate ${percent(sums.fulfilled + sums.error === 0 ? null : sums.error / (sums.fulfilled + sums.error))}`,
  ];
  if (slowest > 0) parts.push(`p95 up to ${formatDuration(slowest)}`);
  return parts.join(' · ');
}

function bucketTitle(bucket: MetricsBucket, metrics: FlowMetrics): string {
  const counts = STACK.map((status) => `${bucket.counts[status]} ${STATUS[status].label.toLowerCase()}`).join(', ');
  const duration = bucket.durationMs ? `; p50 ${formatDuration(bucket.durationMs.p50)}, p95 ${formatDuration(bucket.durationMs.p95)}` : '';
  return `${formatTime(bucket.start)} (${metrics.bucket}): ${counts}${duration}`;
}

/** A bucket's start on the axis: the time of day, or the date for day-long buckets. */
function axisTime(iso: string, bucket: MetricsBucketSize): string {
  const date = new Date(iso);
  return bucket === '1d' || bucket === '6h'
    ? date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })
    : date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

customElements.get('flowtrace-execution-metrics') ?? customElements.define('flowtrace-execution-metrics', FlowtraceExecutionMetrics);

declare global {
  interface HTMLElementTagNameMap {
    'flowtrace-execution-metrics': FlowtraceExecutionMetrics;
  }
}
