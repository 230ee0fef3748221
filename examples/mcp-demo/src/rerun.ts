import type { IncomingMessage, ServerResponse } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { isSpanContextValid, trace } from '@opentelemetry/api';
import { executionIdOf } from '@flowtrace/tracer';
import { instrumentMcpClient } from '@flowtrace/tracer/mcp';
import type { ExecutionContext, Extension } from '@pumped-fn/core-next';

const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The execution id of a tool call this process makes to itself. instrumentMcpServer picks it on
 * the server side and the tool's result does not carry it, but the call carries the caller's
 * trace (in `params._meta`): this scope extension sees the tool's flow start in that trace and
 * reads the id from the flow's context. List it after the tracing extension, which sets the id.
 */
export function executionIdsByTrace() {
  const waiting = new Map<string, (executionId: string) => void>();
  const extension: Extension.Extension = {
    name: 'demo-execution-ids-by-trace',
    wrap(_scope, next, operation) {
      if (operation.kind !== 'execution' || !operation.definition || waiting.size === 0) return next();
      const traceId = trace.getActiveSpan()?.spanContext().traceId;
      const found = traceId && waiting.get(traceId);
      const executionId = found && executionIdOf(operation.context as unknown as ExecutionContext.Context);
      if (found && executionId) {
        waiting.delete(traceId);
        found(executionId);
      }
      return next();
    },
  };
  return {
    extension,
    /** The id of the first flow to start in `traceId`; `forget` when the call ended without one. */
    expect(traceId: string) {
      const id = new Promise<string>((resolve) => waiting.set(traceId, resolve));
      return { id, forget: () => waiting.delete(traceId) };
    },
  };
}

export interface RerunOptions {
  /** Origins whose pages may ask (the Usage page's); compared exactly, answered with CORS for them only. */
  allowedOrigins: readonly string[];
  /** Host header values served (DNS-rebinding protection, as for /mcp). */
  allowedHosts: readonly string[];
  /** This server's own MCP endpoint, which the re-run calls as any MCP client would. */
  mcpUrl: URL;
  /** The tool that runs each flow, by the flow id the collector records. */
  toolOfFlow: ReadonlyMap<string, string>;
  ids: ReturnType<typeof executionIdsByTrace>;
}

class Refused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * `POST /rerun { flowId, params }` → `{ executionId }`: runs the flow's tool again through an MCP
 * client, answering as soon as the new execution has started (or with the tool's error when its
 * arguments are refused). Only pages of `allowedOrigins` may ask: a browser sends their Origin,
 * and only they get CORS headers; anyone else gets 403.
 */
export function rerunHandler(options: RerunOptions) {
  const tracer = trace.getTracer('flowtrace-demo-shop');
  let client: Promise<Client> | undefined;
  const connect = () => {
    const fresh = instrumentMcpClient(new Client({ name: 'flowtrace-demo-rerun', version: '0.1.0' }));
    return fresh.connect(new StreamableHTTPClientTransport(options.mcpUrl)).then(() => fresh);
  };

  const rerun = async (body: unknown): Promise<{ executionId?: string }> => {
    const { flowId, params } = (body ?? {}) as { flowId?: unknown; params?: unknown };
    const tool = typeof flowId === 'string' ? options.toolOfFlow.get(flowId) : undefined;
    if (!tool) throw new Refused(400, `unknown flow ${JSON.stringify(flowId)}: this demo re-runs ${[...options.toolOfFlow.keys()].join(', ')}`);
    if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new Refused(400, `params must be an object of ${tool}'s arguments`);
    const mcp = await (client ??= connect()).catch((error: unknown) => {
      client = undefined;
      throw error;
    });
    return tracer.startActiveSpan(`rerun ${tool}`, async (span) => {
      const traceId = span.spanContext().traceId;
      // Without tracing there is no id to learn: the answer waits for the call.
      const started = isSpanContextValid(span.spanContext()) ? options.ids.expect(traceId) : undefined;
      const call = mcp.callTool({ name: tool, arguments: params as Record<string, unknown> }) as Promise<CallToolResult>;
      void call.then(() => span.end(), (error: unknown) => {
        span.end();
        console.error(`[demo-server] re-run of ${tool} failed:`, error);
      });
      const first = await Promise.race([call.then((result) => ({ result })), ...(started ? [started.id.then((executionId) => ({ executionId }))] : [])]).finally(
        () => started?.forget(),
      );
      if ('executionId' in first) return { executionId: first.executionId };
      if (first.result.isError) {
        const text = first.result.content.map((part) => (part.type === 'text' ? part.text : '')).join(' ');
        throw new Refused(400, `${tool} refused these params: ${text}`);
      }
      return {};
    });
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const answer = (status: number, body: object, headers: Record<string, string> = {}) =>
      void res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    const origin = req.headers.origin;
    if (!options.allowedHosts.includes(req.headers.host ?? '') || !origin || !options.allowedOrigins.includes(origin)) {
      const from = origin ? `the origin ${origin}` : 'a request without an Origin';
      return answer(403, { message: `re-run is allowed only from the Usage page (${options.allowedOrigins.join(', ') || 'none set: DEMO_RERUN_ORIGINS'}), not from ${from}` });
    }
    const cors = { 'access-control-allow-origin': origin, vary: 'Origin' };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'access-control-allow-methods': 'POST', 'access-control-allow-headers': 'content-type', 'access-control-max-age': '600' }).end();
      return;
    }
    if (req.method !== 'POST') return answer(405, { message: 'POST { flowId, params } to re-run a flow' }, { ...cors, allow: 'POST, OPTIONS' });
    try {
      answer(200, await rerun(await readJson(req)), cors);
    } catch (error) {
      if (error instanceof Refused) return answer(error.status, { message: error.message }, cors);
      console.error('[demo-server] re-run failed:', error);
      answer(502, { message: `the demo could not call its tool: ${(error as Error).message}` }, cors);
    }
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Refused(413, `the body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new Refused(400, 'the body must be JSON: { "flowId": "…", "params": { … } }');
  }
}
