import { VIEWER_PATH } from './viewer.js';

/**
 * The page the collector serves at `/`: one Usage tab per flow, picked from a list of flows. The
 * tab keeps the view in the URL itself (`url-state`: `?flow=…&page=…&status=…&execution=…`), so
 * it can be linked and back/forward work. It is also the plain-HTML example of embedding the tab.
 */
export function hostPage({ viewerAvailable, traceUrl }: { viewerAvailable: boolean; traceUrl?: string | undefined }): string {
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
  nav { display: flex; flex-wrap: wrap; gap: 0.4em; padding: 0.8em 1.2em 0; }
  nav button { font: inherit; padding: 0.35em 0.9em; border: 1px solid #dde2e8; border-radius: 999px; background: #fff; cursor: pointer; }
  nav button[aria-pressed='true'] { background: #2f6fde; border-color: #2f6fde; color: #fff; }
  main { padding: 0.8em 1.2em 1.2em; }
  flowtrace-usage-tab { --flowtrace-height: calc(100vh - 9em); }
  .note { color: #5f6b7a; }
</style>
</head>
<body>
<header><h1>flowtrace</h1><span class="note">Usage of each flow, live</span></header>
<nav id="flows" aria-label="Flows"></nav>
<main id="main"><p class="note">${viewerAvailable ? 'Loading flows…' : 'The viewer is not installed next to this collector (npm install @flowtrace/viewer).'}</p></main>
${viewerAvailable ? `<script type="module" src="${VIEWER_PATH}"></script>` : ''}
<script type="module">
  const traceUrl = ${JSON.stringify(traceUrl ?? '').replace(/</g, '\\u003c')};
  // The token stays in the hash (never sent to a server); the view is the tab's, in the query.
  const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? sessionStorage.getItem('flowtrace-token') ?? '';
  if (token) sessionStorage.setItem('flowtrace-token', token);
  const headers = token ? { authorization: 'Bearer ' + token } : {};
  // Links from before the tab kept the view (#flow=…&execution=…) still open what they named.
  const legacy = new URLSearchParams(location.hash.slice(1));
  if (legacy.has('flow')) {
    const query = new URLSearchParams({ flow: legacy.get('flow') });
    if (legacy.has('execution')) query.set('execution', legacy.get('execution'));
    history.replaceState(null, '', '?' + query + (token ? '#token=' + encodeURIComponent(token) : ''));
  }
  const nav = document.getElementById('flows');
  const main = document.getElementById('main');
  let tab;

  function markFlow() {
    for (const button of nav.querySelectorAll('button')) button.setAttribute('aria-pressed', String(button.dataset.flow === tab?.flowId));
  }

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
    markFlow();
  }

  async function loadFlows() {
    const response = await fetch('/api/flows', { headers });
    if (!response.ok) {
      const p = document.createElement('p');
      p.className = 'note';
      p.textContent = response.status === 401 ? 'This collector needs a token: open this page as /#token=<token>.' : 'The collector answered HTTP ' + response.status + '.';
      main.replaceChildren(p);
      return [];
    }
    const { items } = await response.json();
    nav.replaceChildren(...items.map((flow) => {
      const button = document.createElement('button');
      button.dataset.flow = flow.flowId;
      button.textContent = flow.flowName + ' (' + flow.executionCount + ')';
      button.addEventListener('click', () => show(flow.flowId));
      return button;
    }));
    markFlow();
    return items;
  }

  window.addEventListener('popstate', () => tab?.updateComplete.then(markFlow));

  const flows = ${viewerAvailable} ? await loadFlows() : [];
  // A link names the flow (?flow=…); the tab reads it when it connects.
  if (flows.length > 0 || new URLSearchParams(location.search).has('flow')) {
    mountTab();
    await tab.updateComplete;
    if (!tab.flowId && flows.length > 0) show(flows[0].flowId);
    markFlow();
  } else if (main.querySelector('.note')) {
    main.querySelector('.note').textContent = 'No flow has run yet: run one and it appears here.';
  }
  // New flows appear as they first run.
  setInterval(async () => {
    const items = await loadFlows();
    if (!tab?.flowId && items.length > 0) show(items[0].flowId);
  }, 3000);
</script>
</body>
</html>
`;
}
