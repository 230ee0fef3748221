import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import * as types from '@modelcontextprotocol/sdk/types.js';
import { Client as OldClient } from 'mcp-sdk-oldest/client/index.js';
import { StdioClientTransport as OldStdioClientTransport } from 'mcp-sdk-oldest/client/stdio.js';
import { StreamableHTTPClientTransport as OldStreamableHTTPClientTransport } from 'mcp-sdk-oldest/client/streamableHttp.js';
import { InMemoryTransport as OldInMemoryTransport } from 'mcp-sdk-oldest/inMemory.js';
import { completable as oldCompletable } from 'mcp-sdk-oldest/server/completable.js';
import { McpServer as OldMcpServer, ResourceTemplate as OldResourceTemplate } from 'mcp-sdk-oldest/server/mcp.js';
import { StreamableHTTPServerTransport as OldStreamableHTTPServerTransport } from 'mcp-sdk-oldest/server/streamableHttp.js';
import * as oldTypes from 'mcp-sdk-oldest/types.js';

/**
 * The oldest and the newest MCP SDK release the tracer's peer range covers, both installed
 * (the oldest under an npm alias), so every MCP test runs against each. The old classes are
 * typed as the new ones: the tracer only relies on what both expose.
 */
export interface Sdk {
  label: string;
  /** The package name to resolve in a child process. */
  packageName: string;
  McpServer: typeof McpServer;
  ResourceTemplate: typeof ResourceTemplate;
  Client: typeof Client;
  StreamableHTTPServerTransport: typeof StreamableHTTPServerTransport;
  StreamableHTTPClientTransport: typeof StreamableHTTPClientTransport;
  StdioClientTransport: typeof StdioClientTransport;
  InMemoryTransport: typeof InMemoryTransport;
  completable: typeof completable;
  types: typeof types;
}

const require = createRequire(import.meta.url);
/** The installed version: the SDK's `exports` map `package.json` to its ESM folder's stub. */
function versionOf(name: string): string {
  for (let dir = dirname(require.resolve(`${name}/types.js`)); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string };
      if (manifest.version) return manifest.version;
    } catch {
      // no package.json at this level
    }
  }
  throw new Error(`no version found for ${name}`);
}

export const SDKS: Sdk[] = [
  {
    label: `newest (${versionOf('@modelcontextprotocol/sdk')})`,
    packageName: '@modelcontextprotocol/sdk',
    McpServer,
    ResourceTemplate,
    Client,
    StreamableHTTPServerTransport,
    StreamableHTTPClientTransport,
    StdioClientTransport,
    InMemoryTransport,
    completable,
    types,
  },
  {
    label: `oldest (${versionOf('mcp-sdk-oldest')})`,
    packageName: 'mcp-sdk-oldest',
    McpServer: OldMcpServer as unknown as typeof McpServer,
    ResourceTemplate: OldResourceTemplate as unknown as typeof ResourceTemplate,
    Client: OldClient as unknown as typeof Client,
    StreamableHTTPServerTransport: OldStreamableHTTPServerTransport as unknown as typeof StreamableHTTPServerTransport,
    StreamableHTTPClientTransport: OldStreamableHTTPClientTransport as unknown as typeof StreamableHTTPClientTransport,
    StdioClientTransport: OldStdioClientTransport as unknown as typeof StdioClientTransport,
    InMemoryTransport: OldInMemoryTransport as unknown as typeof InMemoryTransport,
    completable: oldCompletable as unknown as typeof completable,
    types: oldTypes as unknown as typeof types,
  },
];
