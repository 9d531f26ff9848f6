/**
 * The subset of the Confluent Schema Registry REST API that serializers and operators use, served
 * beside /graphql from keyflow's own schema registry (src/schemas), so a producer configured with
 * `schema.registry.url=<keyflow>` registers and looks schemas up against keyflow:
 *
 * - `POST /subjects/{subject}/versions` `{schema, schemaType?}` → `{id}` (idempotent)
 * - `POST /subjects/{subject}` `{schema, schemaType?}` → the version it is (lookup, no register)
 * - `GET /schemas/ids/{id}` → `{schema, schemaType?}`
 * - `GET /subjects`, `GET /subjects/{subject}/versions`, `GET /subjects/{subject}/versions/{n|latest}`
 * - `POST /compatibility/subjects/{subject}/versions/latest` → `{is_compatible}`
 *
 * Errors have the registry's JSON form `{error_code, message}` (40401 subject not found, 40402
 * version not found, 40403 schema not found, 409 incompatible, 42201 invalid schema, 401, 403).
 * When authentication is on, every route needs the `admin` scope (Bearer token, as for GraphQL).
 */
import type { Plugin } from 'graphql-yoga';
import { ErrorCode, isKeyflowError } from '../../model/index.ts';
import type { RegisteredSchema, SchemaRegistry } from '../../schemas/index.ts';
import type { AuditLog } from './auth/audit.ts';
import type { Authenticator } from './auth/authenticator.ts';
import { hasScope, Scope } from './auth/identity.ts';
import { clientAddress, nodeRequestOf } from './client-address.ts';
import { requestIdOf } from './use-request-id.ts';

export interface SchemaRegistryRoutesOptions {
  schemas: SchemaRegistry;
  authenticator: Authenticator;
  audit: AuditLog;
  /** @default false */
  trustProxy?: boolean;
  /** Largest request body, bytes. @default 1048576 */
  maxBodyBytes?: number;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

const ROUTE = /^\/(?:subjects(?:\/([^/]+)(?:\/versions(?:\/([^/]+))?)?)?|schemas\/ids\/([^/]+)|compatibility\/subjects\/([^/]+)\/versions\/([^/]+))$/;

function versionView(v: RegisteredSchema) {
  return { subject: v.subject, id: v.id, version: v.version, schema: v.schema, ...(v.schemaType === 'AVRO' ? {} : { schemaType: v.schemaType }) };
}

export function useSchemaRegistryRoutes(options: SchemaRegistryRoutesOptions): Plugin {
  const { schemas, authenticator, audit } = options;
  const maxBody = options.maxBodyBytes ?? 1_048_576;
  const trustProxy = options.trustProxy ?? false;

  async function body(request: Request): Promise<{ schema: string; schemaType?: 'AVRO' | 'PROTOBUF' }> {
    const length = Number(request.headers.get('content-length') ?? 0);
    if (length > maxBody) throw new RegistryError(413, 413, `the request body is larger than ${maxBody} bytes`);
    const text = await request.text();
    if (Buffer.byteLength(text) > maxBody) throw new RegistryError(413, 413, `the request body is larger than ${maxBody} bytes`);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new RegistryError(422, 42201, 'the request body is not JSON');
    }
    const d = doc as { schema?: unknown; schemaType?: unknown; references?: unknown } | null;
    if (typeof d?.schema !== 'string') throw new RegistryError(422, 42201, "the request body needs 'schema' (the schema as a string)");
    if (Array.isArray(d.references) && d.references.length > 0) throw new RegistryError(422, 42201, 'schema references are not supported');
    return { schema: d.schema, ...(d.schemaType !== undefined ? { schemaType: d.schemaType as 'AVRO' | 'PROTOBUF' } : {}) };
  }

  function latestOrVersion(subject: string, version: string): RegisteredSchema {
    const versions = schemas.versions(subject);
    if (versions.length === 0) throw new RegistryError(404, 40401, `Subject '${subject}' not found.`);
    const v = version === 'latest' || version === '-1' ? versions.at(-1) : /^\d{1,9}$/.test(version) ? versions[Number(version) - 1] : undefined;
    if (!v) throw new RegistryError(404, 40402, `Version ${version} not found.`);
    return v;
  }

  async function route(method: string, m: RegExpExecArray, path: string, request: Request): Promise<unknown> {
    const [, subjectRaw, versionRaw, idRaw, compatSubject, compatVersion] = m;
    await schemas.refresh();
    if (idRaw !== undefined) {
      if (method !== 'GET') throw new RegistryError(405, 405, 'use GET');
      const v = /^\d{1,10}$/.test(idRaw) ? schemas.byId(Number(idRaw)) : undefined;
      if (!v) throw new RegistryError(404, 40403, 'Schema not found');
      return { schema: v.schema, ...(v.schemaType === 'AVRO' ? {} : { schemaType: v.schemaType }) };
    }
    if (compatSubject !== undefined) {
      if (method !== 'POST') throw new RegistryError(405, 405, 'use POST');
      const subject = decodeURIComponent(compatSubject);
      if (compatVersion !== 'latest') latestOrVersion(subject, compatVersion!);
      const problem = schemas.compatibilityProblem(subject, await body(request));
      return problem === undefined ? { is_compatible: true } : { is_compatible: false, messages: [problem] };
    }
    if (path === '/subjects') {
      if (method !== 'GET') throw new RegistryError(405, 405, 'use GET');
      return schemas.subjects();
    }
    const subject = decodeURIComponent(subjectRaw!);
    if (path.endsWith('/versions')) {
      if (method === 'POST') return { id: (await schemas.register(subject, await body(request))).id };
      if (method !== 'GET') throw new RegistryError(405, 405, 'use GET or POST');
      const versions = schemas.versions(subject);
      if (versions.length === 0) throw new RegistryError(404, 40401, `Subject '${subject}' not found.`);
      return versions.map((v) => v.version);
    }
    if (versionRaw !== undefined) {
      if (method !== 'GET') throw new RegistryError(405, 405, 'use GET');
      return versionView(latestOrVersion(subject, decodeURIComponent(versionRaw)));
    }
    // POST /subjects/{subject}: which version of the subject this schema is
    if (method !== 'POST') throw new RegistryError(405, 405, 'use POST');
    const input = await body(request);
    if (schemas.versions(subject).length === 0) throw new RegistryError(404, 40401, `Subject '${subject}' not found.`);
    const v = schemas.find(subject, input);
    if (!v) throw new RegistryError(404, 40403, 'Schema not found');
    return versionView(v);
  }

  return {
    async onRequest({ request, url, serverContext, endResponse, fetchAPI }) {
      const m = ROUTE.exec(url.pathname);
      if (!m) return;
      const reply = (status: number, doc: unknown) =>
        endResponse(new fetchAPI.Response(JSON.stringify(doc), { status, headers: { 'content-type': CONTENT_TYPE, 'cache-control': 'no-store' } }));
      const address = clientAddress(nodeRequestOf(serverContext), trustProxy);
      const requestId = requestIdOf(request);
      try {
        const identity = await authenticator.authenticate(request.headers.get('authorization'));
        if (authenticator.required && !hasScope(identity, Scope.admin)) {
          audit.rejected({ code: ErrorCode.FORBIDDEN, reason: 'missing_scope', sub: identity.sub, transport: 'http', address, requestId, fields: [url.pathname] });
          throw new RegistryError(403, 40301, 'the credential lacks the admin scope the schema registry needs');
        }
        if (request.method !== 'GET') audit.admin({ sub: identity.sub, fields: [`${request.method} ${url.pathname}`], transport: 'http', address, requestId });
        reply(200, await route(request.method, m, url.pathname, request));
      } catch (e) {
        if (e instanceof RegistryError) return reply(e.status, { error_code: e.errorCode, message: e.message });
        if (isKeyflowError(e)) {
          if (e.code === ErrorCode.UNAUTHENTICATED) return reply(401, { error_code: 401, message: e.message });
          if (e.code === ErrorCode.SCHEMA_INCOMPATIBLE) return reply(409, { error_code: 409, message: e.message });
          if (e.code === ErrorCode.SCHEMA_VALIDATION_FAILED) return reply(422, { error_code: 42201, message: e.message });
        }
        reply(500, { error_code: 50001, message: 'Error in the backend data store' });
      }
    },
  };
}
