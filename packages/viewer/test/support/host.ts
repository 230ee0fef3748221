import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A host app on its own origin, as a user's app would be: it loads the viewer bundle from the
 * collector and embeds the tab with the attributes given in the query string (`api-base`
 * defaults to that collector).
 */
export async function startHostPage() {
  let collectorUrl = '';
  const server: Server = createServer((req, res) => {
    const query = new URL(req.url ?? '/', 'http://host').searchParams;
    const attributes = ['flow-id', 'page-size', 'execution-id', 'trace-url', 'token', 'url-state', 'steps-view']
      .filter((name) => query.has(name))
      .map((name) => `${name}="${escapeAttribute(query.get(name)!)}"`)
      .join(' ');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>host app</title>
<script type="module" src="${collectorUrl}/viewer/flowtrace-viewer.js"></script>
<style>body{margin:16px;font-family:sans-serif} flowtrace-usage-tab{--flowtrace-height:700px}</style></head>
<body><main><h1>Host app</h1>
<script>
  window.hostEvents = [];
  for (const type of ['flowtrace-select', 'flowtrace-page']) {
    document.addEventListener(type, (event) => window.hostEvents.push({ type, detail: event.detail }));
  }
  window.alerts = [];
  window.alert = (message) => window.alerts.push(String(message));
</script>
${query.has('flow-id') ? `<flowtrace-usage-tab api-base="${escapeAttribute(query.get('api-base') ?? collectorUrl)}" ${attributes}></flowtrace-usage-tab>` : ''}
</main></body></html>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  // "localhost" is another origin than the collector's 127.0.0.1.
  return {
    origin: `http://localhost:${port}`,
    /** The collector the page loads the viewer from and points the tab at. */
    useCollector(url: string) {
      collectorUrl = url;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
