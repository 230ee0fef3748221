import { LitElement, type PropertyDeclarations, type PropertyValues } from 'lit';
import { HttpSource, type FlowtraceSource } from './source.js';

/**
 * An element that reads from a collector: its HTTP API at `api-base` with `token`, or an injected
 * `source`. The HTTP source is made on first use and dropped when `api-base` or `token` change;
 * an injected one is kept.
 */
export abstract class SourcedElement extends LitElement {
  // Typed as declarations so subclasses list only their own (Lit adds these to theirs).
  static override properties: PropertyDeclarations = {
    apiBase: { attribute: 'api-base' },
    token: {},
    source: { attribute: false },
  };

  declare apiBase: string | undefined;
  declare token: string | undefined;
  declare source: FlowtraceSource | undefined;

  constructor() {
    super();
    this.apiBase = undefined;
    this.token = undefined;
    this.source = undefined;
  }

  /** The source in use: the injected one, or the collector's HTTP API. */
  protected get data(): FlowtraceSource {
    this.source ??= new HttpSource({ apiBase: this.apiBase, token: this.token });
    return this.source;
  }

  override connectedCallback() {
    super.connectedCallback();
    // Back in the page: willUpdate starts reading again.
    this.requestUpdate();
  }

  protected override willUpdate(changed: PropertyValues<this>) {
    if ((changed.has('apiBase') || changed.has('token')) && this.source instanceof HttpSource) this.source = undefined;
  }
}
