import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { guard } from '../guard.js';
import { currentCall } from './traced-transport.js';

/**
 * The tools an `McpServer` has, learnt through its public registration methods: a call to a
 * name that is not among them (or is disabled) is not an execution of anything.
 *
 * The same wrapping records a throwing tool's exception on its span before the SDK turns it into
 * an `isError` result that keeps only the message.
 */
interface RegisteredToolLike {
  enabled?: boolean;
  update: (updates: { name?: string | null; callback?: unknown; [key: string]: unknown }) => void;
}

type Callback = (...args: unknown[]) => unknown;
type Register = (name: string, ...rest: unknown[]) => RegisteredToolLike;

export class ToolRegistry {
  private readonly tools = new Map<string, RegisteredToolLike>();

  constructor(server: McpServer) {
    const target = server as unknown as { registerTool: Register; tool: Register };
    for (const method of ['registerTool', 'tool'] as const) {
      const register = target[method].bind(server);
      // Both take the callback last.
      target[method] = (name: string, ...rest: unknown[]) => {
        const last = rest.length - 1;
        if (typeof rest[last] === 'function') rest[last] = recordingExceptions(rest[last] as Callback);
        const tool = register(name, ...rest);
        this.track(name, tool);
        return tool;
      };
    }
  }

  /** Whether `name` is a tool the server would run now. */
  runs(name: string): boolean {
    const tool = this.tools.get(name);
    return tool !== undefined && tool.enabled !== false;
  }

  private track(name: string, tool: RegisteredToolLike): void {
    this.tools.set(name, tool);
    let current = name;
    const update = tool.update.bind(tool);
    // `update` renames (`remove()` is `update({ name: null })`) and replaces callbacks.
    tool.update = (updates) => {
      const changes = { ...updates };
      if (typeof changes.callback === 'function') changes.callback = recordingExceptions(changes.callback as Callback);
      update(changes);
      if (changes.name !== undefined && changes.name !== current) {
        this.tools.delete(current);
        if (changes.name) this.tools.set((current = changes.name), tool);
      }
    };
  }
}

function recordingExceptions(callback: Callback): Callback {
  const record = (error: unknown) => guard(() => currentCall()?.span.recordException(error instanceof Error ? error : String(error)));
  return function (this: unknown, ...args: unknown[]) {
    try {
      const result = callback.apply(this, args);
      if (result instanceof Promise) {
        return result.catch((error: unknown) => {
          record(error);
          throw error;
        });
      }
      return result;
    } catch (error) {
      record(error);
      throw error;
    }
  };
}
