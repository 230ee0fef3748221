import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { RANGES, STATUSES, type Filters } from './filters.js';
import type { StepsView } from './events.js';
import type { ExecutionStatus } from './types.js';

/** What the tab keeps in the URL: enough to open the same view again. */
export interface ViewState {
  flowId: string;
  executionId: string | undefined;
  page: number;
  filters: Filters;
  /** How the open execution's steps are shown. */
  steps: StepsView;
}

/** The view named by the URL's query, its parameters prefixed (`ft-page`); absent ones are left out. */
export function readViewState(params: URLSearchParams, prefix: string): Partial<ViewState> {
  const get = (name: string) => params.get(prefix + name) ?? undefined;
  const state: Partial<ViewState> = {};
  const flowId = get('flow');
  if (flowId) state.flowId = flowId;
  const executionId = get('execution');
  if (executionId) state.executionId = executionId;
  const page = Number(get('page') ?? 1);
  state.page = Number.isInteger(page) && page >= 1 ? page : 1;
  const range = get('range') ?? '';
  const status = (get('status') ?? '').split(',').filter((s): s is ExecutionStatus => (STATUSES as readonly string[]).includes(s));
  const filters: Filters = { status, range: range in RANGES || range === 'custom' ? (range as Filters['range']) : '', q: get('q') ?? '' };
  if (filters.range === 'custom') {
    const from = get('from');
    const to = get('to');
    if (from) filters.from = from;
    if (to) filters.to = to;
  }
  state.filters = filters;
  state.steps = get('steps') === 'timeline' ? 'timeline' : 'tree';
  return state;
}

/** The URL's query with the view written in (defaults left out) and the host's own parameters kept. */
export function writeViewState(params: URLSearchParams, prefix: string, state: ViewState): URLSearchParams {
  const next = new URLSearchParams(params);
  const set = (name: string, value: string | undefined) => (value ? next.set(prefix + name, value) : next.delete(prefix + name));
  set('flow', state.flowId);
  set('execution', state.executionId);
  set('page', state.page > 1 ? String(state.page) : undefined);
  set('status', state.filters.status.join(','));
  set('range', state.filters.range);
  set('from', state.filters.range === 'custom' ? state.filters.from : undefined);
  set('to', state.filters.range === 'custom' ? state.filters.to : undefined);
  set('q', state.filters.q);
  set('steps', state.steps === 'timeline' ? 'timeline' : undefined);
  return next;
}

/** The parameters' prefix for a `url-state` value, or undefined when the URL is not the tab's to keep. */
export function prefixOf(urlState: string | null | undefined): string | undefined {
  return urlState === null || urlState === undefined ? undefined : urlState && `${urlState}-`;
}

/** This page's address showing `state`: the host's own parameters kept, the view written in. */
export function viewUrl(prefix: string, state: ViewState): string {
  return `${location.origin}${pathWith(writeViewState(new URLSearchParams(location.search), prefix, state))}`;
}

/** This page's path and hash with the query `params`. */
function pathWith(params: URLSearchParams): string {
  return `${location.pathname}${params.size > 0 ? `?${params}` : ''}${location.hash}`;
}

export interface UrlStateHost extends ReactiveControllerHost, HTMLElement {
  /** The `url-state` attribute: the parameters' prefix, or null/undefined when the URL is not the tab's to keep. */
  urlState: string | null | undefined;
  viewState: ViewState;
  applyViewState(state: Partial<ViewState>): void;
}

/**
 * Keeps the tab's view (flow, page, filters, open execution, steps view) in the page's query string, opt-in
 * so a host router stays in charge otherwise: the URL is read when the tab connects and on
 * back/forward; each change the reader makes is a history entry, so back and forward step
 * through them. The first write after connecting replaces the entry, filling in what the page
 * was opened without.
 */
export class UrlStateController implements ReactiveController {
  private written = false;

  constructor(private readonly host: UrlStateHost) {
    host.addController(this);
  }

  private get prefix(): string | undefined {
    return prefixOf(this.host.urlState);
  }

  private readonly onPopState = () => {
    const prefix = this.prefix;
    // Back or forward: what the URL leaves out is closed, not kept.
    if (prefix !== undefined) this.host.applyViewState({ executionId: undefined, ...readViewState(new URLSearchParams(location.search), prefix) });
  };

  hostConnected() {
    this.written = false;
    window.addEventListener('popstate', this.onPopState);
    const prefix = this.prefix;
    if (prefix === undefined) return;
    // What the URL leaves out (the flow, the execution) stays as the host's attributes set it.
    this.host.applyViewState(readViewState(new URLSearchParams(location.search), prefix));
  }

  hostDisconnected() {
    window.removeEventListener('popstate', this.onPopState);
  }

  hostUpdated() {
    const prefix = this.prefix;
    if (prefix === undefined || !this.host.viewState.flowId) return;
    const current = new URLSearchParams(location.search);
    const next = writeViewState(current, prefix, this.host.viewState);
    if (next.toString() === current.toString()) return;
    const url = pathWith(next);
    if (this.written) history.pushState(history.state, '', url);
    else history.replaceState(history.state, '', url);
    this.written = true;
  }
}
