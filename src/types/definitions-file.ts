/** `KEYFLOW_EVENT_TYPES_FILE`: event types declared in a YAML or JSON file (`eventTypes: [ … ]` or a bare list). */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ErrorCode, type EventTypeSpec, isKeyflowError, KeyflowError, specFromDefinition } from '../model/index.ts';

/**
 * The specs a definitions file declares, in file order. Throws INVALID_CONFIG naming the file and,
 * for a bad entry, its index and name with each invalid field.
 */
export function readDefinitionsFile(path: string): EventTypeSpec[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new KeyflowError(ErrorCode.INVALID_CONFIG, `KEYFLOW_EVENT_TYPES_FILE: cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  let doc: unknown;
  try {
    // YAML 1.2 is a superset of JSON, so one parser reads both
    doc = parseYaml(text, { prettyErrors: true, maxAliasCount: 100 });
  } catch (cause) {
    throw new KeyflowError(ErrorCode.INVALID_CONFIG, `KEYFLOW_EVENT_TYPES_FILE: ${path} is not valid YAML/JSON: ${(cause as Error).message}`, { cause });
  }
  const list = Array.isArray(doc) ? doc : (doc as { eventTypes?: unknown } | null)?.eventTypes;
  if (!Array.isArray(list)) {
    throw new KeyflowError(ErrorCode.INVALID_CONFIG, `KEYFLOW_EVENT_TYPES_FILE: ${path} must hold a list of event types, or an object with an 'eventTypes' list`);
  }
  const seen = new Set<string>();
  return list.map((entry, i) => {
    const name = (entry as { name?: unknown } | null)?.name;
    const where = `KEYFLOW_EVENT_TYPES_FILE ${path}: eventTypes[${i}]${typeof name === 'string' ? ` (${name})` : ''}`;
    try {
      const spec = specFromDefinition(withTables(entry, dirname(path), where), where);
      if (seen.has(spec.eventType)) throw new KeyflowError(ErrorCode.INVALID_CONFIG, `${where}: declared twice`);
      seen.add(spec.eventType);
      return spec;
    } catch (e) {
      if (isKeyflowError(e) && e.code !== ErrorCode.INVALID_CONFIG) throw new KeyflowError(ErrorCode.INVALID_CONFIG, e.message, { cause: e, details: e.details });
      throw e;
    }
  });
}

/** A lookup rule may name its table as `tableFile` (YAML/JSON, relative to the definitions file): read here into `table`. */
function withTables(entry: unknown, dir: string, where: string): unknown {
  const rules = (entry as { enrichment?: unknown } | null)?.enrichment;
  if (!Array.isArray(rules)) return entry;
  return {
    ...(entry as object),
    enrichment: rules.map((r: unknown) => {
      const file = (r as { tableFile?: unknown } | null)?.tableFile;
      if (typeof file !== 'string') return r;
      const { tableFile: _, ...rest } = r as Record<string, unknown>;
      const at = resolve(dir, file);
      try {
        return { ...rest, table: parseYaml(readFileSync(at, 'utf8')) as unknown };
      } catch (cause) {
        throw new KeyflowError(ErrorCode.INVALID_CONFIG, `${where}: rule '${String(rest.name)}': cannot read its table ${file}: ${(cause as Error).message}`, { cause });
      }
    }),
  };
}
