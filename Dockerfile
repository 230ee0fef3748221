# Images of flowtrace, built from the repository root:
#   docker build --target collector -t flowtrace-collector .   (the collector, serving the viewer)
#   docker build --target demo -t flowtrace-demo .             (the demo MCP server, or its client)
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles its native addon.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json turbo.json tsconfig.json tsconfig.publish.json ./
COPY packages ./packages
COPY examples ./examples
COPY tools ./tools
COPY bench/package.json ./bench/package.json
RUN npm ci --no-audit --no-fund && npx turbo run build --filter=@flowtrace/mcp-demo...

# What the images run: production dependencies only (npm prune keeps the addon compiled above),
# and of each workspace they need only package.json, dist and bin; links to the workspaces left
# out are removed.
FROM build AS production
RUN npm prune --omit=dev --no-audit --no-fund \
 && mkdir /production \
 && cp -a package.json node_modules /production/ \
 && for workspace in packages/semconv packages/tracer packages/node packages/collector packages/viewer examples/mcp-demo; do \
      mkdir -p "/production/$workspace" \
      && cp -a "$workspace/package.json" "$workspace/dist" "/production/$workspace/" \
      && if [ -d "$workspace/bin" ]; then cp -a "$workspace/bin" "/production/$workspace/"; fi; \
    done \
 && find /production/node_modules -xtype l -delete

FROM node:20.20.2-bookworm-slim AS collector
WORKDIR /app
ENV NODE_ENV=production \
    FLOWTRACE_HOST=0.0.0.0 \
    FLOWTRACE_PORT=4318 \
    FLOWTRACE_DB=/data/flowtrace.db
# The code stays root's, read-only to the collector; only /data is the node user's.
COPY --from=production /production /app
RUN mkdir -p /data && chown node:node /data
VOLUME /data
EXPOSE 4318
USER node
# The slim image has no curl: Node's fetch asks /healthz, which needs no token.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.FLOWTRACE_PORT || 4318) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "packages/collector/dist/cli.js"]

FROM node:20.20.2-bookworm-slim AS demo
WORKDIR /app
ENV NODE_ENV=production \
    DEMO_MCP_HOST=0.0.0.0 \
    DEMO_MCP_PORT=3001
COPY --from=production /production /app
EXPOSE 3001
USER node
# The server is healthy when it accepts connections (the client, run from this image too, turns
# the check off in docker-compose.yml).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "require('node:net').connect(Number(process.env.DEMO_MCP_PORT || 3001), '127.0.0.1').on('connect', () => process.exit(0)).on('error', () => process.exit(1))"]
CMD ["node", "examples/mcp-demo/dist/server.js"]
