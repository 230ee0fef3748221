# Images of flowtrace, built from the repository root:
#   docker build --target collector -t flowtrace-collector .   (the collector, serving the viewer)
#   docker build --target demo -t flowtrace-demo .             (the demo MCP server, or its client)
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles its native addon.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json turbo.json tsconfig.json ./
COPY packages ./packages
COPY examples ./examples
COPY tools ./tools
COPY bench/package.json ./bench/package.json
RUN npm ci --no-audit --no-fund && npx turbo run build --filter=@flowtrace/mcp-demo...

FROM node:20-bookworm-slim AS collector
WORKDIR /app
COPY --from=build /app /app
ENV FLOWTRACE_HOST=0.0.0.0 \
    FLOWTRACE_PORT=4318 \
    FLOWTRACE_DB=/data/flowtrace.db
RUN mkdir -p /data && chown node:node /data
VOLUME /data
EXPOSE 4318
USER node
CMD ["node", "packages/collector/dist/cli.js"]

FROM node:20-bookworm-slim AS demo
WORKDIR /app
COPY --from=build /app /app
ENV DEMO_MCP_HOST=0.0.0.0 \
    DEMO_MCP_PORT=3001
EXPOSE 3001
USER node
CMD ["node", "examples/mcp-demo/dist/server.js"]
