import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import { hostPage, type HostPageLinks } from './host-page.js';

/**
 * The viewer bundle's location: given, or `@flowtrace/viewer` installed next to the collector.
 * The module URL becomes a path with `fileURLToPath` — a URL's `pathname` keeps `%20` for a
 * space, and an install under "My Projects" would not find its own bundle.
 */
export function findViewerBundle(
  given: string | false | undefined,
  resolve: (specifier: string) => string = (specifier) => import.meta.resolve(specifier),
): string | undefined {
  if (given === false) return undefined;
  if (given) return given;
  try {
    return fileURLToPath(resolve('@flowtrace/viewer/bundle'));
  } catch {
    return undefined;
  }
}

export const VIEWER_PATH = '/viewer/flowtrace-viewer.js';

/**
 * `GET /viewer/flowtrace-viewer.js`: the Usage tab's self-contained ES module, for host pages
 * (on another origin too, when it is allowed by `--cors-origin`); `GET /`: a page that shows
 * every flow's Usage tab. Neither holds data, so neither needs the token.
 */
export function viewerRoutes(bundlePath: string | undefined, links: HostPageLinks = {}): Router {
  const router = new Router();
  let bundle: { code: Buffer; map: Buffer | undefined } | undefined;
  const load = () => {
    if (!bundlePath) return undefined;
    bundle ??= { code: readFileSync(bundlePath), map: readOptional(`${bundlePath}.map`) };
    return bundle;
  };

  router.get(VIEWER_PATH, (ctx) => {
    const found = load();
    if (!found) return ctx.throw(404, 'the viewer is not installed: add @flowtrace/viewer next to @flowtrace/collector');
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = found.code;
  });
  router.get(`${VIEWER_PATH}.map`, (ctx) => {
    const map = load()?.map;
    if (!map) ctx.throw(404, 'no source map');
    ctx.type = 'application/json';
    ctx.body = map;
  });
  router.get('/', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = hostPage({ viewerAvailable: load() !== undefined, ...links });
  });
  return router;
}

function readOptional(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}
