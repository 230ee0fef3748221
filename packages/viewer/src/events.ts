import type { Filters } from './filters.js';

/**
 * Events the elements dispatch. They bubble and are composed, so a host page can listen on the
 * usage tab (or any ancestor) to deep-link.
 */
export interface SelectDetail {
  flowId: string;
  executionId: string;
}

export interface PageDetail {
  page: number;
}

export interface FilterDetail {
  filters: Filters;
}

export interface FlowSelectDetail {
  flowId: string;
}

export const SELECT_EVENT = 'flowtrace-select';
/** A flow was picked in flowtrace-flow-list. */
export const FLOW_SELECT_EVENT = 'flowtrace-flow-select';
export const PAGE_EVENT = 'flowtrace-page';
export const FILTER_EVENT = 'flowtrace-filter';
export const RETRY_EVENT = 'flowtrace-retry';
/** The detail asks for the next page of a large execution's steps. */
export const MORE_STEPS_EVENT = 'flowtrace-more-steps';

export interface MoreStepsDetail {
  executionId: string;
  cursor: string;
}

/** The reader asks to compare this execution with another (the usage tab lets them pick it in the list). */
export const COMPARE_EVENT = 'flowtrace-compare';

/** A step was selected in the timeline (or opened in the tree): its data is shown. */
export const STEP_SELECT_EVENT = 'flowtrace-step-select';

export interface StepSelectDetail {
  executionId: string;
  nodeId: string;
}

/** The reader switched the detail's steps between the tree and the timeline. */
export const STEPS_VIEW_EVENT = 'flowtrace-steps-view';

export type StepsView = 'tree' | 'timeline';

export interface StepsViewDetail {
  view: StepsView;
}

/**
 * The reader asks to run an execution's flow again with `params` (the initial parameters, maybe
 * edited). The viewer runs nothing: the host app does, and tells it so during the dispatch with
 * `respondWith(promise of the new execution id, or undefined)` (or claims it with preventDefault).
 */
export const RERUN_EVENT = 'flowtrace-rerun';

export interface RerunDetail {
  flowId: string;
  executionId: string;
  params: unknown;
  respondWith(answer: Promise<string | undefined> | string | undefined): void;
}

/** Returns false when a listener called preventDefault on a cancelable event. */
export function emit<T>(target: EventTarget, type: string, detail: T, cancelable = false): boolean {
  return target.dispatchEvent(new CustomEvent<T>(type, { detail, bubbles: true, composed: true, cancelable }));
}

declare global {
  interface HTMLElementEventMap {
    'flowtrace-select': CustomEvent<SelectDetail>;
    'flowtrace-flow-select': CustomEvent<FlowSelectDetail>;
    'flowtrace-page': CustomEvent<PageDetail>;
    'flowtrace-filter': CustomEvent<FilterDetail>;
    'flowtrace-retry': CustomEvent<void>;
    'flowtrace-more-steps': CustomEvent<MoreStepsDetail>;
    'flowtrace-step-select': CustomEvent<StepSelectDetail>;
    'flowtrace-steps-view': CustomEvent<StepsViewDetail>;
    'flowtrace-compare': CustomEvent<SelectDetail>;
    'flowtrace-rerun': CustomEvent<RerunDetail>;
  }
}
