/** Public exports of the GraphQL layer. */

export { CONTRACT_CODES, contractCode, toContractError } from './errors.ts';
export type { Authenticator, AuthenticatorOptions } from './plugins/auth/authenticator.ts';
export { createAuthenticator } from './plugins/auth/authenticator.ts';
export type { Identity } from './plugins/auth/identity.ts';
export type { JwtVerifier, JwtVerifierOptions } from './plugins/auth/jwt-verifier.ts';
export { createJwtVerifier } from './plugins/auth/jwt-verifier.ts';
export type { CorsPolicy } from './plugins/cors.ts';
export type { RateLimitOptions, RateLimits } from './plugins/rate-limits.ts';
export { createRateLimits } from './plugins/rate-limits.ts';
export type { GraphQLContext } from './schema/index.ts';
export { buildSchema } from './schema/index.ts';
export type { GraphQLServer, GraphQLServerOptions } from './server.ts';
export { createGraphQLServer, GRAPHQL_WS_PROTOCOL, WS_CLOSE_UNAUTHENTICATED, WsClose } from './server.ts';
export type { ApiLimits, ApiServices, ComponentHealth, Health, HealthCheckOptions } from './services.ts';
export { createHealthCheck } from './services.ts';
export type { WsLimits } from './ws-server.ts';
