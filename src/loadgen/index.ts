/** The load generator behind `keyflow produce` and `start --demo`: realistic events published over the GraphQL API. */
export * from './producer.ts';
