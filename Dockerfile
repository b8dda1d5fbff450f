# raftq node image: `docker build -t raftq .`, then see docker-compose.yml and README "Running with Docker".
# The same image runs the client commands: `docker run --rm raftq cluster status --nodes n1:7001`.

FROM node:20-slim AS build
WORKDIR /app
# Dependencies first, so a source change does not reinstall them. No scripts yet: `prepare`
# (tsc) needs the sources, which come next.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
# The product only: tsconfig also includes test/, jepsen-lite/ and bench/, which nothing in it imports.
COPY tsconfig.json ./
COPY raft ./raft
COPY cluster ./cluster
COPY src ./src
# Install scripts of the dependencies (LevelDB's native binding), then the build.
RUN npm rebuild && npm run build && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production \
    RAFTQ_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# A named volume mounted here starts with this ownership, so the unprivileged user can write it.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
# Client protocol, peer (Raft) and HTTP listeners of n1..n3 (docker-compose.yml gives node nK
# the ports 700K, 710K, 800K, as on a developer's machine).
EXPOSE 7001 7002 7003 7101 7102 7103 8001 8002 8003
# V8 flags as src/node-flags.ts gives them: the compose file runs three nodes on one host.
ENTRYPOINT ["node", "--single-threaded-gc", "dist/cluster/main.js"]
CMD ["node"]
