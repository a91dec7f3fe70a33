# The node greeter as an expert writes it by hand: package.json + lock first (npm ci with
# the npm cache in a cache mount), then the sources, build and test; the runtime gets
# production node_modules and dist/ only, and runs as the node user.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,id=npm \
    npm ci --omit=dev --no-audit --no-fund

FROM deps AS build
COPY scripts ./scripts
COPY src ./src
COPY test ./test
RUN npm run build && npm test

FROM node:20-bookworm-slim AS app
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
CMD ["node", "dist/server.js"]
