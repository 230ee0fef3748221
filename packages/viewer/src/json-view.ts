import { css, html, LitElement, nothing, type TemplateResult } from 'lit';
import { isolate } from './format.js';
import { theme } from './theme.js';

/**
 * A JSON value as a collapsible tree. Every value is rendered as text — never as HTML —
 * because parameters and outputs are untrusted input. Long strings and long lists are cut,
 * with a button to show the rest.
 *
 * @element flowtrace-json-view
 * @prop value - any JSON value
 * @attr expand-depth - levels opened at first (default 2)
 * @attr max-string - characters of a string shown before "show more" (default 160)
 * @attr max-entries - entries of a list or object shown before "show more" (default 50)
 * @csspart tree - the outer element
 */
export class FlowtraceJsonView extends LitElement {
  static override properties = {
    value: { attribute: false },
    expandDepth: { type: Number, attribute: 'expand-depth' },
    maxString: { type: Number, attribute: 'max-string' },
    maxEntries: { type: Number, attribute: 'max-entries' },
    expanded: { state: true },
  };

  declare value: unknown;
  declare expandDepth: number;
  declare maxString: number;
  declare maxEntries: number;
  /** Paths whose string or list the reader asked to see in full. */
  declare expanded: Set<string>;

  constructor() {
    super();
    this.value = undefined;
    this.expandDepth = 2;
    this.maxString = 160;
    this.maxEntries = 50;
    this.expanded = new Set();
  }

  static override styles = [
    theme,
    css`
      :host {
        display: block;
        font-family: var(--_mono);
        font-size: 0.9em;
        line-height: 1.5;
        overflow-wrap: anywhere;
      }
      ul {
        list-style: none;
        margin: 0;
        padding-left: 1.2em;
      }
      summary {
        cursor: pointer;
        color: var(--_muted);
      }
      .key {
        color: var(--flowtrace-json-key, #7a3e9d);
      }
      .string {
        color: var(--flowtrace-json-string, #1a7f37);
        white-space: pre-wrap;
      }
      .number {
        color: var(--flowtrace-json-number, #0b61c4);
      }
      .boolean,
      .null {
        color: var(--flowtrace-json-literal, #b3470c);
      }
      .more {
        border: none;
        background: none;
        padding: 0 0.3em;
        color: var(--_accent);
        text-decoration: underline;
        font-size: 0.95em;
      }
    `,
  ];

  override updated(changed: Map<string, unknown>) {
    if (changed.has('value') && changed.get('value') !== undefined) this.expanded = new Set();
  }

  override render() {
    return html`<div part="tree">${this.node(this.value, '$', 0)}</div>`;
  }

  private node(value: unknown, path: string, depth: number): TemplateResult {
    if (value === null || value === undefined) return html`<span class="null">null</span>`;
    switch (typeof value) {
      case 'string':
        return this.string(value, path);
      case 'number':
        return html`<span class="number">${String(value)}</span>`;
      case 'boolean':
        return html`<span class="boolean">${String(value)}</span>`;
      case 'object':
        return this.container(value as object, path, depth);
      default:
        return html`<span>${String(value)}</span>`;
    }
  }

  private string(value: string, path: string): TemplateResult {
    const full = this.expanded.has(path) || value.length <= this.maxString;
    const shown = full ? value : value.slice(0, this.maxString);
    return html`<span class="string">"${isolate(shown)}${full ? '' : '…'}"</span>${full
      ? nothing
      : html`<button class="more" @click=${() => this.expand(path)}>show more (${value.length - this.maxString} more characters)</button>`}`;
  }

  private container(value: object, path: string, depth: number): TemplateResult {
    const isArray = Array.isArray(value);
    const entries: Array<[string, unknown]> = isArray ? (value as unknown[]).map((v, i) => [String(i), v]) : Object.entries(value);
    const [open, close] = isArray ? ['[', ']'] : ['{', '}'];
    if (entries.length === 0) return html`<span>${open}${close}</span>`;
    const all = this.expanded.has(path) || entries.length <= this.maxEntries;
    const shown = all ? entries : entries.slice(0, this.maxEntries);
    const summary = isArray ? `${entries.length} item${entries.length === 1 ? '' : 's'}` : `${entries.length} key${entries.length === 1 ? '' : 's'}`;
    return html`<details ?open=${depth < this.expandDepth}>
      <summary>${open} ${summary} ${close}</summary>
      <ul>
        ${shown.map(
          ([key, item]) => html`<li>${isArray ? nothing : html`<span class="key">${isolate(key)}</span>: `}${this.node(item, `${path}/${key}`, depth + 1)}</li>`,
        )}
        ${all
          ? nothing
          : html`<li><button class="more" @click=${() => this.expand(path)}>show more (${entries.length - this.maxEntries} more)</button></li>`}
      </ul>
    </details>`;
  }

  private expand(path: string) {
    this.expanded = new Set([...this.expanded, path]);
  }
}

customElements.get('flowtrace-json-view') ?? customElements.define('flowtrace-json-view', FlowtraceJsonView);

declare global {
  interface HTMLElementTagNameMap {
    'flowtrace-json-view': FlowtraceJsonView;
  }
}
