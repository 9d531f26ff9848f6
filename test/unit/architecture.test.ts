/**
 * The floor plan of src/, checked from the imports themselves:
 *  - each area sits on a floor and imports only areas on lower floors (model is the ground floor,
 *    core sits on it, cli is the roof);
 *  - one area reaches another only through that area's index.ts;
 *  - there is no import cycle between files.
 * README.md ("Architecture") describes the same table.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = join(ROOT, 'src');

/** Area → floor. An area may import areas on strictly lower floors only. */
const FLOORS: Record<string, number> = {
  model: 0,
  core: 1,
  log: 2,
  state: 2,
  bus: 3,
  sinks: 3,
  types: 3,
  redrive: 3,
  schemas: 3,
  actors: 4,
  ingest: 4,
  loadgen: 4,
  graphql: 5,
  app: 6,
  cli: 7,
};

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?'(\.{1,2}\/[^']+)'/g;
const DYNAMIC = /import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const re of [IMPORT, DYNAMIC]) {
    for (const m of text.matchAll(re)) out.push(normalize(join(dirname(file), m[1]!)));
  }
  return out;
}

const areaOf = (file: string): string => relative(SRC, file).split('/')[0]!;
const files = walk(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const rel = (f: string) => relative(ROOT, f);

describe('floor plan of src/', () => {
  it('every file lives in a known area', () => {
    const unknown = files.map(areaOf).filter((a) => !(a in FLOORS));
    expect([...new Set(unknown)]).toEqual([]);
  });

  it('imports point to existing files', () => {
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${rel(f)} -> ${rel(d)}`));
    expect(missing).toEqual([]);
  });

  it('no area imports an area on its own or a higher floor', () => {
    const upward = [...graph].flatMap(([f, deps]) =>
      deps
        .filter((d) => areaOf(d) !== areaOf(f) && FLOORS[areaOf(d)]! >= FLOORS[areaOf(f)]!)
        .map((d) => `${rel(f)} -> ${rel(d)}`),
    );
    expect(upward).toEqual([]);
  });

  it('areas reach each other only through their index.ts', () => {
    const around = [...graph].flatMap(([f, deps]) =>
      deps.filter((d) => areaOf(d) !== areaOf(f) && d !== join(SRC, areaOf(d), 'index.ts')).map((d) => `${rel(f)} -> ${rel(d)}`),
    );
    expect(around).toEqual([]);
  });

  it('has no import cycle', () => {
    const cycles: string[][] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 'open');
      stack.push(f);
      for (const d of graph.get(f) ?? []) {
        if (state.get(d) === 'open') cycles.push([...stack.slice(stack.indexOf(d)), d].map(rel));
        else if (!state.has(d) && graph.has(d)) visit(d);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });
});
