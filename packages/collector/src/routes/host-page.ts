import { VIEWER_PATH } from './viewer.js';

/**
 * The page the collector serves at `/`: one Usage tab per flow, picked from a list of flows,
 * with the selection kept in the URL hash (`#flow=…&execution=…`) so it can be linked. It is
 * also the plain-HTML example of embedding the tab.
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
  const params = () => new URLSearchParams(location.hash.slice(1));
  const token = params().get('token') ?? sessionStorage.getItem('flowtrace-token') ?? '';
  if (token) sessionStorage.setItem('flowtrace-token', token);
  const headers = token ? { authorization: 'Bearer ' + token } : {};
  const nav = document.getElementById('flows');
  const main = document.getElementById('main');

  function show(flowId, executionId) {
    const hash = new URLSearchParams({ flow: flowId });
    if (executionId) hash.set('execution', executionId);
    history.replaceState(null, '', '#' + hash);
    for (const button of nav.querySelectorAll('button')) button.setAttribute('aria-pressed', String(button.dataset.flow === flowId));
    let tab = main.querySelector('flowtrace-usage-tab');
    if (!tab) {
      main.replaceChildren();
      tab = document.createElement('flowtrace-usage-tab');
      if (token) tab.setAttribute('token', token);
      if (traceUrl) tab.setAttribute('trace-url', traceUrl);
      tab.addEventListener('flowtrace-select', (event) => show(event.detail.flowId, event.detail.executionId));
      main.append(tab);
    }
    if (tab.getAttribute('flow-id') !== flowId) tab.setAttribute('flow-id', flowId);
    if (executionId) tab.setAttribute('execution-id', executionId);
    else tab.removeAttribute('execution-id');
  }

  async function loadFlows() {
    const response = await fetch('/api/flows', { headers });
    if (!response.ok) {
      main.innerHTML = '';
      const p = document.createElement('p');
      p.className = 'note';
      p.textContent = response.status === 401 ? 'This collector needs a token: open this page as /#token=<token>.' : 'The collector answered HTTP ' + response.status + '.';
      main.append(p);
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
    return items;
  }

  // Links and the back button change the hash: follow them.
  window.addEventListener('hashchange', () => {
    const flow = params().get('flow');
    if (flow) show(flow, params().get('execution') ?? undefined);
  });

  const flows = await loadFlows();
  const wanted = params().get('flow');
  if (wanted || flows.length > 0) show(wanted ?? flows[0].flowId, params().get('execution') ?? undefined);
  else if (main.querySelector('.note')) main.querySelector('.note').textContent = 'No flow has run yet: run one and it appears here.';
  // New flows appear as they first run.
  setInterval(async () => {
    const known = nav.querySelectorAll('button').length;
    const current = params().get('flow');
    const items = await loadFlows();
    if (items.length !== known && current) show(current, params().get('execution') ?? undefined);
    else if (!current && items.length > 0) show(items[0].flowId);
  }, 3000);
</script>
</body>
</html>
`;
}
