/**
 * GraphQL fields from the model's field lists (`WINDOW_RESULT_FIELDS`, `EVENT_ENVELOPE_FIELDS`,
 * …): one field per shape field, its type from the field's kind, nullable when it accepts null,
 * described by the model. Times (`time`) are DateTime: epoch ms until the scalar prints them.
 */
import type { FieldKind, FieldSpec } from '../../model/index.ts';

/** The GraphQL type of each field kind. */
export const GRAPHQL_TYPE_OF_KIND = {
  id: 'ID',
  string: 'String',
  int: 'Int',
  float: 'Float',
  boolean: 'Boolean',
  time: 'DateTime',
  json: 'JSON',
} as const satisfies Record<FieldKind, string>;

/** The part of a Pothos object field builder used here. */
interface ExposingBuilder<FieldRef> {
  expose(name: never, options: never): FieldRef;
}

/** The part of a Pothos input field builder used here. */
interface InputBuilder<FieldRef> {
  field(options: never): FieldRef;
}

/** Exposes each field of `fields` (a property of the parent object of the same name), in order. */
export function exposeShapeFields<FieldRef, Name extends string>(
  t: ExposingBuilder<FieldRef>,
  fields: readonly FieldSpec<Name>[],
): Record<Name, FieldRef> {
  const out = {} as Record<Name, FieldRef>;
  for (const f of fields) {
    out[f.name] = t.expose(f.name as never, {
      type: GRAPHQL_TYPE_OF_KIND[f.kind],
      nullable: f.nullable,
      ...(f.description === undefined ? {} : { description: f.description }),
    } as never);
  }
  return out;
}

/**
 * Input fields for each field of `fields`, in order: required unless the field may be absent or
 * null. `descriptions` overrides the model's (an input documents what the client may send).
 */
export function inputShapeFields<FieldRef, Name extends string>(
  t: InputBuilder<FieldRef>,
  fields: readonly FieldSpec<Name>[],
  descriptions: Partial<Record<Name, string>> = {},
): Record<Name, FieldRef> {
  const out = {} as Record<Name, FieldRef>;
  for (const f of fields) {
    const description = descriptions[f.name] ?? f.description;
    out[f.name] = t.field({
      type: GRAPHQL_TYPE_OF_KIND[f.kind],
      required: !f.optional && !f.nullable,
      ...(description === undefined ? {} : { description }),
    } as never);
  }
  return out;
}
