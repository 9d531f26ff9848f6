/**
 * JSON Schema payload checks (ajv, draft 2020-12 subset ajv supports by default: draft-07 keywords
 * plus formats from ajv-formats), compiled once per registered schema version.
 */
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ErrorCode, KeyflowError, type ValidationIssue } from '../model/index.ts';

// ajv-formats is CommonJS: its default export is the plugin function
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

/** Most issues reported for one payload. */
const MAX_ISSUES = 10;

function issueOf(e: ErrorObject): ValidationIssue {
  const parts = e.instancePath === '' ? [] : e.instancePath.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (e.keyword === 'required') parts.push(String((e.params as { missingProperty: string }).missingProperty));
  if (e.keyword === 'additionalProperties') parts.push(String((e.params as { additionalProperty: string }).additionalProperty));
  return { path: ['payload', ...parts].join('.'), message: e.message ?? e.keyword };
}

/**
 * Compiles a payload schema into a checker. Throws SCHEMA_VALIDATION_FAILED (issue path `schema`)
 * when ajv refuses the schema itself (unknown keyword, bad type name, unresolvable $ref, …).
 */
export function compilePayloadSchema(schema: Record<string, unknown>, eventType: string): (payload: Record<string, unknown>) => ValidationIssue[] | undefined {
  // one instance per schema: a new version may reuse the previous one's $id
  const ajv = addFormats(new Ajv({
      allErrors: true,
      // refuse unknown keywords and formats (a typo would silently check nothing); valid-but-loose schemas are fine
      strictSchema: true,
      strictNumbers: true,
      strictTypes: false,
      strictTuples: false,
      strictRequired: false,
      allowUnionTypes: true,
    }));
  let validate: ReturnType<Ajv['compile']>;
  try {
    validate = ajv.compile(schema);
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `event type '${eventType}': the payload schema is not a valid JSON Schema: ${message}`, {
      cause,
      details: { issues: [{ path: 'schema', message }] },
    });
  }
  return (payload) => {
    if (validate(payload)) return undefined;
    return (validate.errors ?? []).slice(0, MAX_ISSUES).map(issueOf);
  };
}
