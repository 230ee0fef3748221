import { VIEWER_PATH } from './viewer.js';

/**
 * The page the collector serves at `/`: one Usage tab per flow, picked from a list of flows. The
 * tab keeps the view in the URL itself (`url-state`: `?flow=…&page=…&status=…&execution=…`), so
 * it can be linked and back/forward work. It is also the plain-HTML example of embedding the tab.
 */
export interface HostPageLinks {
  /** Trace-link template, e.g. `http://localhost:16686/trace/{traceId}`. */
  traceUrl?: string | undefined;
  /** The app endpoint Re-run posts `{ flowId, executionId, params }` to, answering `{ executionId }`. */
  rerunUrl?: string | undefined;
}

export function hostPage({ viewerAvailable, traceUrl, rerunUrl }: HostPageLinks & { viewerAvailable: boolean }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>flowtrace — Usage</title>
<style>
  body { margin: 0; font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; color: #1d2330; background: #f5f7fa; }
  header { display: flex; align-items: baseline; gap: 1em; padding: 0.8em 1.2em; background: #fff; border-bottom: 1px solid #dde2e8; }
  h1 { font-size: 1.1em; margin: 0; }
  flowtrace-flow-list { padding: 0.8em 1.2em 0; }
  main { padding: 0.8em 1.2em 1.2em; }
  flowtrace-usage-tab { --flowtrace-height: calc(100vh - 9em); }
  .note { color: #5f6b7a; }
</style>
</head>
<body>
<header><h1>flowtrace</h1><span class="note">Usage of each flow, live</span></header>
${viewerAvailable ? '<flowtrace-flow-list id="flows" auto-select></flowtrace-flow-list>' : ''}
<main id="main"><p class="note">${viewerAvailable ? 'Loading flows…' : 'The viewer is not installed next to this collector (npm install @flowtrace/viewer).'}</p></main>
${viewerAvailable ? `<script type="module" src="${VIEWER_PATH}"></script>` : ''}
<script type="module">
  const traceUrl = ${script(traceUrl)};
  const rerunUrl = ${script(rerunUrl)};
  // The token stays in the hash (never sent to a server); the view is the tab's, in the query.
  const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? sessionStorage.getItem('flowtrace-token') ?? '';
  if (token) sessionStorage.setItem('flowtrace-token', token);
  // Links from before the tab kept the view (#flow=…&execution=…) still open what they named.
  const legacy = new URLSearchParams(location.hash.slice(1));
  if (legacy.has('flow')) {
    const query = new URLSearchParams({ flow: legacy.get('flow') });
    if (legacy.has('execution')) query.set('execution', legacy.get('execution'));
    history.replaceState(null, '', '?' + query + (token ? '#token=' + encodeURIComponent(token) : ''));
  }
  const flows = document.getElementById('flows');
  const main = document.getElementById('main');
  let tab;

  // url-state: the tab keeps flow, page, filters and execution in this page's URL and follows back/forward.
  function mountTab() {
    tab = document.createElement('flowtrace-usage-tab');
    tab.setAttribute('url-state', '');
    if (token) tab.setAttribute('token', token);
    if (traceUrl) tab.setAttribute('trace-url', traceUrl);
    main.replaceChildren(tab);
  }

  function show(flowId) {
    if (!tab) mountTab();
    tab.setAttribute('flow-id', flowId);
    flows.selected = flowId;
  }

  // Re-run: this page only passes the request on to the app at --rerun-url, which runs the flow.
  if (rerunUrl) {
    document.addEventListener('flowtrace-rerun', ({ detail }) => {
      const { flowId, executionId, params } = detail;
      detail.respondWith(
        fetch(rerunUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ flowId, executionId, params }) })
          .catch(() => Promise.reject(new Error('cannot reach ' + rerunUrl)))
          .then(async (response) => {
            const body = await response.json().catch(() => ({}));
            if (!response.ok) throw new Error(body.message ?? rerunUrl + ' answered HTTP ' + response.status);
            return body.executionId;
          }),
      );
    });
  }

  if (flows) {
    if (token) flows.setAttribute('token', token);
    // The flow list counts live and keeps deleted flows behind its toggle; it picks the first flow when no link names one.
    flows.addEventListener('flowtrace-flow-select', (event) => show(event.detail.flowId));
    window.addEventListener('popstate', () => tab?.updateComplete.then(() => (flows.selected = tab.flowId)));
    const linked = new URLSearchParams(location.search).get('flow');
    if (linked) show(linked);
    else main.querySelector('.note').textContent = 'No flow has run yet: run one and it appears here.';
  }
</script>
</body>
</html>
`;
}

/** A value as a JavaScript literal inside the page's <script>. */
function script(value: string | undefined): string {
  return JSON.stringify(value ?? '').replace(/</g, '\\u003c');
}
