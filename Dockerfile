# keyflow node image: one image for every role; the role is the command.
#   docker build -t keyflow .
#   docker run -p 4000:4000 keyflow                      # start: all roles, embedded adapters, data in /data
#   docker run keyflow gateway | processor | produce --url http://gateway:4000/graphql --rate 500
#
# TypeScript runs through tsx (a runtime dependency), so the image needs no build step and the
# stack traces point at the sources.
FROM node:20-slim

ENV NODE_ENV=production \
    KEYFLOW_PORT=4000 \
    KEYFLOW_HOST=0.0.0.0 \
    KEYFLOW_DATA_DIR=/data

WORKDIR /app

# Dependencies first, so editing sources does not invalidate the npm layer. `npm ci` installs
# exactly the lock file; it refuses a lock that lacks some platforms' optional packages of dev
# tools (biome, deno, rollup), and then `npm install` resolves those from the registry instead.
COPY package.json package-lock.json ./
RUN (npm ci --omit=dev --no-audit --no-fund || npm install --omit=dev --no-audit --no-fund) \
    && npm cache clean --force

COPY tsconfig.json ./
COPY src ./src

RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 4000

# /health answers on every role (GraphQL, /health, /ready and /metrics share KEYFLOW_PORT).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=6 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.KEYFLOW_PORT||4000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["node", "--import", "tsx", "src/cli/main.ts"]
CMD ["start"]
