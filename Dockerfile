# keyflow node image: one image for every role; the role is the command.
#   docker build -t keyflow .
#   docker run -p 4000:4000 keyflow                      # start: all roles, embedded adapters, data in /data
#   docker run keyflow gateway | processor | produce --url http://gateway:4000/graphql --rate 500
#   docker run keyflow --help
#
# TypeScript runs through tsx (a runtime dependency), so the image needs no build step and the
# stack traces point at the sources.
# The dashboard's browser bundle (web/dashboard → web/dist/dashboard), built with the dev dependencies.
FROM node:22-slim AS web
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY web ./web
RUN node web/build.mjs

FROM node:22-slim

ENV NODE_ENV=production \
    KEYFLOW_PORT=4000 \
    KEYFLOW_HOST=0.0.0.0 \
    KEYFLOW_DATA_DIR=/data

WORKDIR /app

# Dependencies first, so editing sources does not invalidate the npm layer. `npm ci` installs
# exactly the lock file (runtime dependencies only: the image's Node 22 runs them).
# (`prepare` runs web/build.mjs, which without the dev dependencies leaves the build to the stage above.)
COPY package.json package-lock.json ./
COPY web/build.mjs ./web/build.mjs
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=web /build/web/dist ./web/dist

COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src

RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 4000

# /health answers on every role (GraphQL, /health, /ready and /metrics share KEYFLOW_PORT).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=6 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.KEYFLOW_PORT||4000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["node", "bin/keyflow.js"]
CMD ["start"]
