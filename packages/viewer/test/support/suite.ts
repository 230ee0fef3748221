import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { launchChromium } from './browser.js';
import { startHostPage } from './host.js';
import { startStack } from './stack.js';

export type Stack = Awaited<ReturnType<typeof startStack>>;
export type HostPage = Awaited<ReturnType<typeof startHostPage>>;
export type Viewport = { width: number; height: number };

export interface BrowserSuiteOptions {
  /** Collector options besides `corsOrigins` (which allows the host page's origin). */
  stack?: Omit<NonNullable<Parameters<typeof startStack>[0]>, 'corsOrigins'>;
  /** Runs executions before the browser starts; the stack is flushed after it. */
  seed?: (stack: Stack) => Promise<void>;
  /** How the stack is closed, when a file replaces its collector (default: `stack.close()`). */
  closeStack?: (stack: Stack) => Promise<void>;
  /** `newPage`'s viewport unless it is given one. */
  viewport?: Viewport;
  /** `newPage`'s default timeout for actions; `null` keeps Playwright's own. */
  timeout?: number | null;
  /** Whether an error thrown in a page from `newPage` fails the run (default: it does). */
  rethrowPageErrors?: boolean;
}

/**
 * The setup every browser test file shares: a host page on its own origin, the stack (a real
 * collector that allows that origin, and the tracer), seeded and flushed, and Chromium — started
 * in `beforeAll` and closed in `afterAll`, both registered by this call.
 */
export function browserSuite(options: BrowserSuiteOptions = {}) {
  const { viewport = { width: 1280, height: 860 }, timeout = 10_000, rethrowPageErrors = true } = options;
  let stack: Stack | undefined;
  let host: HostPage | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    host = await startHostPage();
    stack = await startStack({ corsOrigins: [host.origin], ...options.stack });
    host.useCollector(stack.url);
    if (options.seed) {
      await options.seed(stack);
      await stack.flush();
    }
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (stack) await (options.closeStack ?? ((s: Stack) => s.close()))(stack);
    await host?.close();
  });

  const suite = {
    get stack(): Stack {
      return stack!;
    },
    get host(): HostPage {
      return host!;
    },
    get browser(): Browser {
      return browser!;
    },
    /** A page in the suite's browser with its viewport and timeout, failing the run on a page error. */
    async newPage(size: Viewport = viewport): Promise<Page> {
      const page = await browser!.newPage({ viewport: size });
      if (timeout !== null) page.setDefaultTimeout(timeout);
      if (rethrowPageErrors) {
        page.on('pageerror', (error) => {
          throw error;
        });
      }
      return page;
    },
    /**
     * The host page with the tab on the attributes in `query`, once the bundle has defined the
     * element; `beforeLoad` runs on the page before it loads (to add init scripts, say).
     */
    async openTab(query: Record<string, string> = {}, size: Viewport = viewport, beforeLoad?: (page: Page) => Promise<unknown>): Promise<Page> {
      const page = await suite.newPage(size);
      await beforeLoad?.(page);
      await page.goto(`${host!.origin}/?${new URLSearchParams(query)}`);
      await page.waitForFunction(() => customElements.get('flowtrace-usage-tab') !== undefined);
      return page;
    },
  };
  return suite;
}
