/**
 * Field metadata for the shared zod schemas, so everything that restates a shape (bus validation,
 * sink columns, GraphQL object types) maps over one field list read from the schema itself.
 *
 * Build a schema's fields with {@link field}; {@link fieldsOf} lists them in declaration order
 * with their kind, nullability, optionality and description.
 */
import { z } from 'zod';
import { jsonDataProblem } from './json-data.ts';

/**
 * What a field holds. `time` is an instant: epoch ms (UTC) inside the system, an ISO-8601 string
 * only where the shape is a wire form (the log record value, client input).
 */
export type FieldKind = 'id' | 'string' | 'int' | 'float' | 'boolean' | 'time' | 'json';

export interface FieldMeta {
  readonly kind: FieldKind;
  readonly description?: string | undefined;
}

/** A field of a shape, as consumers map over it. */
export interface FieldSpec<Name extends string = string> {
  readonly name: Name;
  readonly kind: FieldKind;
  /** Accepts null. */
  readonly nullable: boolean;
  /** May be absent. */
  readonly optional: boolean;
  readonly description: string | undefined;
}

const registry = z.registry<FieldMeta>();

function tagged<S extends z.ZodType>(schema: S, kind: FieldKind, description?: string): S {
  registry.add(schema, { kind, description } as never);
  return schema;
}

/** Field schemas carrying their {@link FieldKind}; wrap with `.nullable()` / `.optional()` as needed. */
export const field = {
  id: (description?: string) => tagged(z.string().min(1).max(256), 'id', description),
  string: (description?: string) => tagged(z.string(), 'string', description),
  int: (description?: string) => tagged(z.number().int(), 'int', description),
  float: (description?: string) => tagged(z.number(), 'float', description),
  boolean: (description?: string) => tagged(z.boolean(), 'boolean', description),
  /** An instant as epoch ms (UTC). */
  epochMs: (description?: string) => tagged(z.number().int(), 'time', description),
  /**
   * A JSON object (payload, metadata) under the rules of `json-data.ts`: bounded depth, no
   * `__proto__` key, finite numbers. Checked on the input as given and passed through uncopied,
   * so no key is ever dropped on the way.
   */
  json: (description?: string) => tagged(jsonObject(), 'json', description),
  /** Tags an existing schema (a bounded string, an ISO-8601 string on a wire form, …). */
  as: tagged,
};

function jsonObject() {
  return z.custom<Record<string, unknown>>().superRefine((v, ctx) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      ctx.addIssue({ code: 'custom', message: `must be a JSON object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}` });
      return;
    }
    const p = jsonDataProblem(v);
    if (p) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  });
}

function specOf(name: string, schema: z.ZodType): FieldSpec {
  let s = schema;
  let nullable = false;
  let optional = false;
  for (;;) {
    if (s instanceof z.ZodNullable) nullable = true;
    else if (s instanceof z.ZodOptional) optional = true;
    else break;
    s = s.unwrap() as z.ZodType;
  }
  const meta = registry.get(s);
  if (meta === undefined) throw new TypeError(`field ${name} was not declared with field.*: its kind is unknown`);
  return { name, kind: meta.kind, nullable, optional, description: meta.description };
}

/** The fields of an object schema built with {@link field}, in declaration order. */
export function fieldsOf<Shape extends z.ZodRawShape>(schema: z.ZodObject<Shape>): readonly FieldSpec<Extract<keyof Shape, string>>[] {
  return Object.entries(schema.shape).map(([name, s]) => specOf(name, s as z.ZodType)) as FieldSpec<Extract<keyof Shape, string>>[];
}
