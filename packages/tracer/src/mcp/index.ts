export { instrumentMcpServer, type McpServerTracingOptions } from './server.js';
export { instrumentMcpClient, type McpClientTracingOptions } from './client.js';
export { registerFlowTool, type FlowToolOptions } from './flow-tool.js';
export { injectIntoParams, extractFromMeta } from './propagation.js';
