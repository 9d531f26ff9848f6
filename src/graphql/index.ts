/** Public exports of the GraphQL layer. */
export { createGraphQLServer, GRAPHQL_WS_PROTOCOL, WS_CLOSE_UNAUTHENTICATED } from './server.ts';
export type { GraphQLServer, GraphQLServerOptions } from './server.ts';
export { createHealthCheck } from './services.ts';
export type { ApiLimits, ApiServices, ComponentHealth, Health, HealthCheckOptions } from './services.ts';
export { buildSchema } from './schema/index.ts';
export type { GraphQLContext } from './schema/index.ts';
export { CONTRACT_CODES, contractCode, toContractError } from './errors.ts';
export { WsClose } from './server.ts';
export type { WsLimits } from './ws-server.ts';
export { createAuthenticator } from './plugins/auth/authenticator.ts';
export type { Authenticator, AuthenticatorOptions } from './plugins/auth/authenticator.ts';
export { createJwtVerifier } from './plugins/auth/jwt-verifier.ts';
export type { JwtVerifier, JwtVerifierOptions } from './plugins/auth/jwt-verifier.ts';
export type { Identity } from './plugins/auth/identity.ts';
export { createRateLimits } from './plugins/rate-limits.ts';
export type { RateLimitOptions, RateLimits } from './plugins/rate-limits.ts';
export type { CorsPolicy } from './plugins/cors.ts';
