// Reading the task YAML: the document, node positions (line and column), and
// the issue list every field parser adds to. Pure TypeScript plus the `yaml`
// package, bundle-safe.

import { LineCounter, isAlias, isMap, isNode, isScalar, isSeq, parseDocument } from 'yaml';
import type { Alias, Document, Node, YAMLMap } from 'yaml';
import { MAX_INPUT_FILE_BYTES, MAX_YAML_ALIASES, MAX_YAML_DEPTH, checkInputSize, utf8Length } from './input';
import { checkShape, decimalTags } from './yaml-bounds';
import { describe } from './parsed';
import type { Parsed } from './parsed';
import { unknownMessage } from '../suggest';
import { TaskValidationError } from './types';
import type { TaskIssue, TaskSpec } from './types';

export interface Pos {
  line: number;
  column: number;
}

/** Positions of fields in the file each spec came from, for checkLaunchable's messages. */
const fieldPositions = new WeakMap<TaskSpec, Map<string, Pos>>();

/** The field positions recorded for `spec` (by parseTask, or copied by copyPositions). */
export function positionsOf(spec: TaskSpec): Map<string, Pos> | undefined {
  return fieldPositions.get(spec);
}

/** Records `positions` for `spec`. */
export function setPositions(spec: TaskSpec, positions: Map<string, Pos>): void {
  fieldPositions.set(spec, positions);
}

/** Lets a spec derived from `from` (overrides, env substitution) point at the same lines. */
export function copyPositions(from: TaskSpec, to: TaskSpec): void {
  const positions = fieldPositions.get(from);
  if (positions) fieldPositions.set(to, positions);
}

/** The parse of one task file: its document, and the issues found so far. */
export class Ctx {
  readonly issues: TaskIssue[] = [];
  /** fields accepted and ignored (core/task/ignored-fields.ts), reported once as warnings */
  readonly warnings: TaskIssue[] = [];
  readonly positions = new Map<string, Pos>();
  /** alias -> the node it stands for (set by readDocument) */
  aliasTargets = new Map<Alias, Node>();
  /** unknown fields reported so far (see unknownField) */
  unknownFields = 0;
  constructor(
    readonly file: string,
    readonly lc: LineCounter,
    readonly doc: Document.Parsed,
  ) {}

  pos(node: unknown): Pos | undefined {
    if (!isNode(node) || !node.range) return undefined;
    const p = this.lc.linePos(node.range[0]);
    return { line: p.line, column: p.col };
  }

  add(node: unknown, field: string, message: string): void {
    const p = this.pos(node);
    this.issues.push(
      p ? { file: this.file, line: p.line, column: p.column, field, message } : { file: this.file, field, message },
    );
  }

  warn(node: unknown, field: string, message: string): void {
    if (this.warnings.some((w) => w.field === field)) return;
    const p = this.pos(node);
    this.warnings.push(
      p ? { file: this.file, line: p.line, column: p.column, field, message } : { file: this.file, field, message },
    );
  }

  js(node: unknown): unknown {
    if (node === null || node === undefined) return null;
    if (isNode(node)) return node.toJS(this.doc, { maxAliasCount: MAX_YAML_ALIASES });
    return node;
  }

  deref(node: unknown): unknown {
    if (isAlias(node)) return this.aliasTargets.get(node) ?? null;
    return node ?? null;
  }

  /** Reports a failed Parsed at the sub-node its `at` path names. */
  report<T>(valueNode: unknown, field: string, r: Parsed<T>): r is Extract<Parsed<T>, { ok: true }> {
    if (r.ok) return true;
    let node = this.deref(valueNode);
    let f = field;
    for (const step of r.at ?? []) {
      f = typeof step === 'number' ? `${f}[${step}]` : `${f}.${step}`;
      if (typeof step === 'number' && isSeq(node)) {
        node = this.deref(node.items[step]) ?? node;
      } else if (typeof step === 'string' && isMap(node)) {
        const pair = node.items.find((p) => keyText(this, p.key) === step);
        if (pair) node = this.deref(pair.value) ?? pair.key;
      }
    }
    this.add(node ?? valueNode, f, r.error);
    return false;
  }
}

export function keyText(ctx: Ctx, key: unknown): string {
  if (isScalar(key)) return key.value === null ? '' : String(key.value);
  const v = ctx.js(key);
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function join(prefix: string, key: string | number): string {
  if (typeof key === 'number') return `${prefix}[${key}]`;
  return prefix ? `${prefix}.${key}` : key;
}

export interface Entry {
  key: string;
  keyNode: unknown;
  value: unknown;
  field: string;
}

/** Entries of a mapping node (first of duplicated keys only; duplicates are reported by checkDuplicates). */
export function entries(ctx: Ctx, node: unknown, prefix: string): Entry[] {
  const out: Entry[] = [];
  if (!isMap(node)) return out;
  const seen = new Set<string>();
  for (const pair of node.items) {
    const key = keyText(ctx, pair.key);
    if (seen.has(key)) continue;
    seen.add(key);
    const field = join(prefix, key);
    const p = ctx.pos(pair.key);
    if (p && !ctx.positions.has(field)) ctx.positions.set(field, p);
    out.push({ key, keyNode: pair.key, value: ctx.deref(pair.value), field });
  }
  return out;
}

/** Reports each key given more than once in a mapping, once (at its second occurrence, with the count). */
export function checkDuplicates(ctx: Ctx, node: unknown, prefix: string, depth = 0): void {
  if (depth > MAX_YAML_DEPTH) return;
  if (isMap(node)) {
    const seen = new Map<string, { pos?: Pos; count: number; second?: unknown }>();
    for (const pair of node.items) {
      const key = keyText(ctx, pair.key);
      const s = seen.get(key);
      if (s) {
        s.count++;
        s.second ??= pair.key;
      } else {
        seen.set(key, { pos: ctx.pos(pair.key), count: 1 });
      }
      checkDuplicates(ctx, pair.value, join(prefix, key), depth + 1);
    }
    for (const [key, s] of seen) {
      if (s.count < 2) continue;
      const times = s.count > 2 ? `, given ${s.count} times` : '';
      ctx.add(
        s.second,
        join(prefix, key),
        `duplicate key '${key}'${s.pos ? ` (first given at line ${s.pos.line}${times})` : times}; give each field once`,
      );
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => checkDuplicates(ctx, item, join(prefix, i), depth + 1));
  }
}

/** Unknown fields past this many get no "did you mean" (each costs an edit distance per field name). */
const MAX_SUGGESTIONS = 100;

export function unknownField(ctx: Ctx, e: Entry, allowed: readonly string[], where: string): void {
  const suggest = ++ctx.unknownFields <= MAX_SUGGESTIONS && e.key.length <= 100;
  ctx.add(
    e.keyNode,
    e.field,
    unknownMessage(
      'field',
      e.key,
      suggest ? allowed : [],
      `expected one of the ${where} fields: ${allowed.join(', ')}`,
    ),
  );
}

/** A scalar as a string, keeping numbers as written (`1.0` stays "1.0"); null for null; undefined for non-scalars. */
export function scalarString(ctx: Ctx, node: unknown): string | null | undefined {
  const n = ctx.deref(node);
  if (n === null) return null;
  if (!isScalar(n)) return undefined;
  const v = n.value;
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof n.source === 'string' && n.type === 'PLAIN') return n.source;
  return String(v);
}

/** True for an absent value or an explicit YAML null. */
export function isNullNode(node: unknown): boolean {
  return node === null || (isScalar(node) && node.value === null);
}

/** What a document holds, for messages: `task` (fields like resources, setup and run). */
export interface DocKind {
  noun: string;
  fields: readonly string[];
  /** the fields an empty file's message names */
  like: string;
}

/**
 * Parses `text` into a document whose root is a mapping, with duplicate keys
 * reported. Throws TaskValidationError for a document over the bounds (size,
 * nesting, aliases; see input.ts), YAML syntax errors, an empty file or a root
 * that is not a mapping. Numbers are plain decimal only (decimalTags).
 */
export function readDocument(text: string, file: string, kind: DocKind): { ctx: Ctx; root: YAMLMap } {
  if (text.length * 3 > MAX_INPUT_FILE_BYTES) checkInputSize(file, utf8Length(text));
  const lc = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lc,
    uniqueKeys: false,
    prettyErrors: false,
    customTags: decimalTags,
  });
  const ctx = new Ctx(file, lc, doc);

  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const lp = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
      let message = e.message.replace(/ at line \d+, column \d+[\s\S]*$/, '');
      if (e.code === 'TAB_AS_INDENT') message = 'tabs are not allowed as indentation in YAML; indent with spaces';
      if (/call stack/i.test(message)) message = `mappings and lists nested deeper than ${MAX_YAML_DEPTH} levels`;
      ctx.issues.push({ file, line: lp.line, column: lp.col, field: 'yaml', message: `invalid YAML: ${message}` });
    }
    throw new TaskValidationError(ctx.issues);
  }
  const shape = checkShape(doc, lc, file);
  if (shape.issues.length > 0) throw new TaskValidationError(shape.issues);
  ctx.aliasTargets = shape.targets;

  const root = ctx.deref(doc.contents);
  if (isNullNode(root)) {
    ctx.issues.push({
      file,
      line: 1,
      column: 1,
      field: kind.noun,
      message: `the ${kind.noun} file is empty; expected a mapping of ${kind.noun} fields like ${kind.like}`,
    });
    throw new TaskValidationError(ctx.issues);
  }
  if (!isMap(root)) {
    ctx.add(
      root,
      kind.noun,
      `expected a mapping of ${kind.noun} fields (${kind.fields.join(', ')}), got ${describe(ctx.js(root))}`,
    );
    throw new TaskValidationError(ctx.issues);
  }
  checkDuplicates(ctx, root, '');
  return { ctx, root };
}

/**
 * Checks that every number in `node` (a whole-number field: num_nodes, ports,
 * disk_size, ...) is written as decimal digits (`8`, not `8.0`) and is a safe
 * integer. Reports the first that is not, and returns false then.
 */
export function checkWholeNumbers(ctx: Ctx, node: unknown, field: string): boolean {
  const stack: unknown[] = [node];
  while (stack.length > 0) {
    const n = ctx.deref(stack.pop());
    if (isScalar(n) && typeof n.value === 'number') {
      const src = typeof n.source === 'string' ? n.source : String(n.value);
      if (!/^[-+]?\d+$/.test(src.trim()) || !Number.isSafeInteger(n.value)) {
        ctx.add(n, field, `expected a whole number in decimal digits (like 8), got ${src}`);
        return false;
      }
    } else if (isMap(n)) {
      for (const p of n.items) stack.push(p.value);
    } else if (isSeq(n)) {
      stack.push(...n.items);
    }
  }
  return true;
}

/** Throws the issues found, in file order (issues without a line last), if there are any. */
export function throwIfIssues(issues: TaskIssue[]): void {
  if (issues.length === 0) return;
  const sorted = issues
    .map((i, n) => ({ i, n }))
    .sort(
      (a, b) => (a.i.line ?? Infinity) - (b.i.line ?? Infinity) || (a.i.column ?? 0) - (b.i.column ?? 0) || a.n - b.n,
    )
    .map((x) => x.i);
  throw new TaskValidationError(sorted);
}
