/** Public exports of the GraphQL layer. */
export { createGraphQLServer, GRAPHQL_WS_PROTOCOL, WS_CLOSE_UNAUTHENTICATED } from './server.ts';
export type { GraphQLServer, GraphQLServerOptions } from './server.ts';
export { createHealthCheck } from './services.ts';
export type { ApiLimits, ApiServices, ComponentHealth, Health, HealthCheckOptions } from './services.ts';
export { buildSchema } from './schema/index.ts';
export type { GraphQLContext } from './schema/index.ts';
export { CONTRACT_CODES, contractCode, toContractError } from './errors.ts';
