/**
 * The printed schema must contain the contract (test/fixtures/contract/schema.graphql) exactly: every
 * type, field, argument, type reference, nullability, default and enum value. Descriptions are
 * not compared. Extra fields, arguments and types are allowed.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type GraphQLArgument,
  type GraphQLNamedType,
  type GraphQLSchema,
  buildSchema as buildFromSdl,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isUnionType,
  printSchema,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { buildSchema } from '../../src/graphql/schema/index.ts';

/** The original contract, kept as it was first agreed (test/fixtures/contract/schema.graphql). */
function readContract(): string {
  return readFileSync(fileURLToPath(new URL('../fixtures/contract/schema.graphql', import.meta.url)), 'utf8');
}

function printDefault(arg: { defaultValue?: unknown }): string {
  return arg.defaultValue === undefined ? '(none)' : JSON.stringify(arg.defaultValue);
}

/** Every difference between the contract and the schema, as readable lines. */
function contractDifferences(contract: GraphQLSchema, actual: GraphQLSchema): string[] {
  const diffs: string[] = [];
  const args = (list: readonly GraphQLArgument[]) => new Map(list.map((a) => [a.name, a]));
  for (const expected of Object.values(contract.getTypeMap()) as GraphQLNamedType[]) {
    if (expected.name.startsWith('__')) continue;
    const got = actual.getType(expected.name);
    if (!got) {
      diffs.push(`missing type ${expected.name}`);
      continue;
    }
    if (got.constructor !== expected.constructor) {
      diffs.push(`type ${expected.name} is a ${got.constructor.name}, contract says ${expected.constructor.name}`);
      continue;
    }
    if (isScalarType(expected)) continue;
    if (isEnumType(expected) && isEnumType(got)) {
      const values = new Set(got.getValues().map((v) => v.name));
      for (const v of expected.getValues()) if (!values.has(v.name)) diffs.push(`enum ${expected.name} lacks ${v.name}`);
      const contractValues = new Set(expected.getValues().map((v) => v.name));
      for (const v of got.getValues()) {
        if (!contractValues.has(v.name)) diffs.push(`enum ${expected.name} has extra value ${v.name} (clients switch on it)`);
      }
      continue;
    }
    if (isUnionType(expected) && isUnionType(got)) {
      const members = new Set(got.getTypes().map((t) => t.name));
      for (const m of expected.getTypes()) if (!members.has(m.name)) diffs.push(`union ${expected.name} lacks ${m.name}`);
      continue;
    }
    if (isInputObjectType(expected) && isInputObjectType(got)) {
      const gotFields = got.getFields();
      for (const f of Object.values(expected.getFields())) {
        const g = gotFields[f.name];
        if (!g) diffs.push(`input ${expected.name} lacks field ${f.name}`);
        else {
          if (String(g.type) !== String(f.type)) diffs.push(`${expected.name}.${f.name}: ${g.type}, contract ${f.type}`);
          if (printDefault(g) !== printDefault(f)) diffs.push(`${expected.name}.${f.name} default ${printDefault(g)}, contract ${printDefault(f)}`);
        }
      }
      // A new required input field would break existing clients.
      for (const g of Object.values(gotFields)) {
        if (!expected.getFields()[g.name] && isNonNullType(g.type) && g.defaultValue === undefined) {
          diffs.push(`input ${expected.name} adds required field ${g.name}`);
        }
      }
      continue;
    }
    if ((isObjectType(expected) || isInterfaceType(expected)) && (isObjectType(got) || isInterfaceType(got))) {
      const gotFields = got.getFields();
      for (const f of Object.values(expected.getFields())) {
        const g = gotFields[f.name];
        const where = `${expected.name}.${f.name}`;
        if (!g) {
          diffs.push(`type ${expected.name} lacks field ${f.name}`);
          continue;
        }
        if (String(g.type) !== String(f.type)) diffs.push(`${where}: ${g.type}, contract ${f.type}`);
        const gotArgs = args(g.args);
        for (const a of f.args) {
          const ga = gotArgs.get(a.name);
          if (!ga) diffs.push(`${where} lacks argument ${a.name}`);
          else {
            if (String(ga.type) !== String(a.type)) diffs.push(`${where}(${a.name}): ${ga.type}, contract ${a.type}`);
            if (printDefault(ga) !== printDefault(a)) diffs.push(`${where}(${a.name}) default ${printDefault(ga)}, contract ${printDefault(a)}`);
          }
        }
        const contractArgs = args(f.args);
        for (const ga of g.args) {
          if (!contractArgs.has(ga.name) && isNonNullType(ga.type) && ga.defaultValue === undefined) {
            diffs.push(`${where} adds required argument ${ga.name}`);
          }
        }
      }
    }
  }
  for (const root of ['Query', 'Mutation', 'Subscription'] as const) {
    const c = root === 'Query' ? contract.getQueryType() : root === 'Mutation' ? contract.getMutationType() : contract.getSubscriptionType();
    const a = root === 'Query' ? actual.getQueryType() : root === 'Mutation' ? actual.getMutationType() : actual.getSubscriptionType();
    if (c && a?.name !== c.name) diffs.push(`${root} root type is ${a?.name}, contract ${c.name}`);
  }
  return diffs;
}

describe('schema contract', () => {
  const contract = buildFromSdl(readContract());
  // Round-trip through SDL so the comparison is on the printed schema, as clients see it.
  const printed = buildFromSdl(printSchema(buildSchema()));

  it('the printed schema contains every contract type, field, argument, default and enum value', () => {
    expect(contractDifferences(contract, printed)).toEqual([]);
  });

  it('the comparison notices a missing field, a changed nullability, a changed default and a missing enum value', () => {
    const broken = buildFromSdl(
      printSchema(buildSchema())
        .replace('  partition: Int!\n\n  """Log offset', '  partition: Int\n\n  """Log offset')
        .replace('latestEvents(topic: String!, limit: Int = 20)', 'latestEvents(topic: String!, limit: Int = 10)')
        .replace('  DUPLICATE\n', '')
        .replace('  openWindows: Int!\n', ''),
    );
    const diffs = contractDifferences(contract, broken);
    expect(diffs).toContain('EventReceipt.partition: Int, contract Int!');
    expect(diffs).toContain('Query.latestEvents(limit) default 10, contract 20');
    expect(diffs).toContain('enum ReceiptStatus lacks DUPLICATE');
    expect(diffs).toContain('type KeyState lacks field openWindows');
  });

  it('contract scalars keep their names and descriptions stay informative', () => {
    const schema = buildSchema();
    expect(schema.getType('DateTime')?.description).toMatch(/ISO-8601/);
    expect(schema.getType('JSON')).toBeDefined();
  });
});
