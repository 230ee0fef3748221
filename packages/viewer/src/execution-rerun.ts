import { css, html, LitElement } from 'lit';
import { emit, RERUN_EVENT, SELECT_EVENT, type RerunDetail, type SelectDetail } from './events.js';
import { theme } from './theme.js';
import type { ExecutionRecord } from './types.js';

/**
 * Runs an execution's flow again, through the host app: its initial parameters as JSON to edit
 * (checked as typed: Run waits for valid JSON), and Run, which fires `flowtrace-rerun`. The viewer
 * runs nothing itself; when no listener takes the event, it says the host does not re-run. When
 * the host answers with the new execution's id, it is opened with `flowtrace-select`.
 *
 * @element flowtrace-execution-rerun
 * @prop record - the execution to run again
 * @fires flowtrace-rerun - `{ flowId, executionId, params, respondWith(promise) }`, cancelable: a listener calls `respondWith` with a Promise of the new execution id (or undefined), or preventDefault
 * @fires flowtrace-select - `{ flowId, executionId }` of the new execution, when the host answered with its id
 * @csspart editor - the parameters' textarea
 * @csspart params-error - what is wrong with the JSON, and where
 * @csspart run - the Run button
 * @csspart rerun-status - what the host app did with the request
 */
export class FlowtraceExecutionRerun extends LitElement {
  static override properties = { record: { attribute: false }, text: { state: true }, running: { state: true }, status: { state: true } };

  declare record: ExecutionRecord | undefined;
  declare text: string;
  declare running: boolean;
  declare status: string;

  constructor() {
    super();
    this.record = undefined;
    this.text = '';
    this.running = false;
    this.status = '';
  }

  static override styles = [
    theme,
    css`
      :host {
        display: grid;
        gap: 0.4em;
        font-size: 0.9em;
      }
      textarea {
        font: 0.95em var(--_mono);
        min-height: 8em;
        resize: vertical;
      }
      textarea[aria-invalid='true'] {
        border-color: var(--flowtrace-color-error, #d64545);
      }
      .error {
        color: var(--_error-text);
      }
    `,
  ];

  override willUpdate(changed: Map<string, unknown>) {
    // Another execution starts from its own parameters; the same one (updated live) keeps the edits.
    if (changed.has('record') && (changed.get('record') as ExecutionRecord | undefined)?.id !== this.record?.id) {
      this.text = JSON.stringify(this.record?.initialParams ?? null, null, 2);
      this.status = '';
    }
  }

  override render() {
    const error = jsonError(this.text);
    return html`<label for="params">Parameters (JSON)</label>
      <textarea id="params" part="editor" spellcheck="false" aria-invalid=${error ? 'true' : 'false'} aria-describedby="params-error"
        .value=${this.text} @input=${(e: Event) => (this.text = (e.target as HTMLTextAreaElement).value)}></textarea>
      <div id="params-error" part="params-error" class="error">${error}</div>
      <div><button type="button" part="run" ?disabled=${!!error || this.running} @click=${this.run}>Run</button>
        <span part="rerun-status" role="status">${this.status}</span></div>`;
  }

  private run = async () => {
    const record = this.record!;
    let answer: Promise<string | undefined> | undefined;
    // respondWith counts only during the dispatch, as the event's listeners run.
    const detail: RerunDetail = {
      flowId: record.flowId,
      executionId: record.id,
      params: JSON.parse(this.text),
      respondWith: (value) => void (answer = Promise.resolve(value)),
    };
    const claimed = !emit(this, RERUN_EVENT, detail, true);
    const answered = answer;
    if (!answered) {
      this.status = claimed ? 'Sent to the host app.' : 'This page cannot re-run executions: its host app does not handle flowtrace-rerun.';
      return;
    }
    this.running = true;
    this.status = 'Running…';
    try {
      const id = await answered;
      this.status = id ? 'Opening the new execution…' : 'The host app ran it.';
      if (id) emit<SelectDetail>(this, SELECT_EVENT, { flowId: record.flowId, executionId: id });
    } catch (error) {
      this.status = `Re-run failed: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      this.running = false;
    }
  };
}

/**
 * What is wrong with `text` as JSON, with the line and column. Some of V8's messages name no
 * position; then it is where the shortest prefix of the text fails other than by ending early.
 */
function jsonError(text: string): string | undefined {
  const message = parseFailure(text);
  if (message === undefined) return undefined;
  let at = positionIn(message, text);
  if (at < 0) {
    let [good, bad] = [0, text.length];
    while (bad - good > 1) {
      const mid = (good + bad) >> 1;
      const prefix = text.slice(0, mid);
      const failure = parseFailure(prefix);
      if (failure === undefined || positionIn(failure, prefix) >= mid) good = mid;
      else bad = mid;
    }
    at = bad - 1;
  }
  const lines = text.slice(0, at).split('\n');
  const what = message.replace(/ in JSON at position.*|, .*is not valid JSON$/s, '');
  return `Line ${lines.length}, column ${lines[lines.length - 1]!.length + 1}: ${what}`;
}

function parseFailure(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Where the message says parsing failed (the end, for an early end); -1 when it does not say. */
function positionIn(message: string, text: string): number {
  return /end of JSON/.test(message) ? text.length : Number(/position (\d+)/.exec(message)?.[1] ?? -1);
}

customElements.get('flowtrace-execution-rerun') ?? customElements.define('flowtrace-execution-rerun', FlowtraceExecutionRerun);

declare global {
  interface HTMLElementTagNameMap {
    'flowtrace-execution-rerun': FlowtraceExecutionRerun;
  }
}
