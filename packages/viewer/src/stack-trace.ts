import { css, html, LitElement, nothing } from 'lit';
import { isolate } from './format.js';
import { theme } from './theme.js';

/**
 * Frames of code the reader did not write: flowtrace, OpenTelemetry, pumped-fn and Node's own.
 * They sit between every user frame of a traced flow and hide the ones that matter.
 */
const LIBRARY_FRAME = /node_modules[\\/](@flowtrace|@opentelemetry|@pumped-fn)[\\/]|[(\s]node:/;

/** One line of a stack, or a run of library frames folded into one. */
type StackLine = { text: string } | { folded: string[] };

/** The stack's lines, each run of library frames folded; the message lines stay as they are. */
export function foldStack(stack: string): StackLine[] {
  const out: StackLine[] = [];
  for (const text of stack.split('\n')) {
    if (/^\s+at /.test(text) && LIBRARY_FRAME.test(text)) {
      const last = out.at(-1);
      if (last && 'folded' in last) last.folded.push(text);
      else out.push({ folded: [text] });
    } else {
      out.push({ text });
    }
  }
  return out;
}

/**
 * A stack trace with library frames folded behind a toggle, so the reader's own frames show
 * first; the toggle shows every frame.
 *
 * @element flowtrace-stack-trace
 * @prop stack - the stack text
 * @csspart stack - the frames
 * @csspart toggle - the button that shows or hides library frames
 * @csspart folded - a line standing for a run of hidden library frames
 */
export class FlowtraceStackTrace extends LitElement {
  static override properties = {
    stack: {},
    expanded: { state: true },
  };

  declare stack: string;
  declare expanded: boolean;

  constructor() {
    super();
    this.stack = '';
    this.expanded = false;
  }

  static override styles = [
    theme,
    css`
      :host {
        display: block;
      }
      pre {
        margin: 0;
        padding: 0.5em;
        background: var(--_surface);
        border-radius: var(--_radius);
        font-family: var(--_mono);
        font-size: 0.8em;
        white-space: pre-wrap;
        overflow-wrap: anywhere;
        max-height: 16em;
        overflow: auto;
      }
      .folded {
        color: var(--_muted);
        font-style: italic;
      }
      button {
        margin-top: 0.3em;
        padding: 0.15em 0.6em;
        border: 1px solid var(--_border);
        border-radius: var(--_radius);
        background: var(--_bg);
        font-size: 0.8em;
      }
    `,
  ];

  override render() {
    const lines = foldStack(this.stack);
    const hidden = lines.reduce((sum, line) => sum + ('folded' in line ? line.folded.length : 0), 0);
    const shown = lines.flatMap((line): unknown[] =>
      'text' in line
        ? [isolate(line.text)]
        : this.expanded
          ? line.folded.map(isolate)
          : [html`<span part="folded" class="folded">    … ${line.folded.length} library frame${line.folded.length === 1 ? '' : 's'}</span>`],
    );
    return html`<pre part="stack">${shown.map((line, i) => html`${i > 0 ? '\n' : ''}${line}`)}</pre>
      ${hidden > 0
        ? html`<button part="toggle" type="button" aria-expanded=${this.expanded ? 'true' : 'false'} @click=${() => (this.expanded = !this.expanded)}>
            ${this.expanded ? 'Hide' : 'Show'} ${hidden} library frame${hidden === 1 ? '' : 's'}
          </button>`
        : nothing}`;
  }
}

customElements.get('flowtrace-stack-trace') ?? customElements.define('flowtrace-stack-trace', FlowtraceStackTrace);

declare global {
  interface HTMLElementTagNameMap {
    'flowtrace-stack-trace': FlowtraceStackTrace;
  }
}
