// The bounds a YAML document must keep before its fields are read: the schema
// (numbers only in plain decimal), nesting depth, the number of aliases and
// what they expand to. One pass over the document, without recursion, also
// resolves every alias to its anchor (so later lookups do not rescan it).

import { isAlias, isCollection, isNode, isPair } from 'yaml';
import type { Alias, Document, LineCounter, Node, Tags } from 'yaml';
import { MAX_YAML_ALIASES, MAX_YAML_DEPTH } from './input';
import type { TaskIssue } from './types';

/**
 * The core schema without hexadecimal (0x10), octal (0o10), exponent (1e3),
 * .inf and .nan numbers: those stay strings, so a field that wants a number
 * refuses them instead of reading 0x10 as 16.
 */
export function decimalTags(tags: Tags): Tags {
  return tags.filter((t) => {
    const format = (t as { format?: string }).format;
    const test = (t as { test?: RegExp }).test;
    return format !== 'HEX' && format !== 'OCT' && format !== 'EXP' && !(test && test.test('.nan'));
  });
}

export interface Shape {
  /** alias -> the node it stands for (the last anchor of its name before it) */
  targets: Map<Alias, Node>;
  issues: TaskIssue[];
}

/** Checks nesting depth and aliases of a parsed document; issues are empty when it keeps the bounds. */
export function checkShape(doc: Document.Parsed, lc: LineCounter, file: string): Shape {
  const targets = new Map<Alias, Node>();
  const issues: TaskIssue[] = [];
  const issue = (node: Node, message: string): void => {
    const p = node.range ? lc.linePos(node.range[0]) : undefined;
    issues.push({ file, ...(p ? { line: p.line, column: p.col } : {}), field: 'yaml', message });
  };
  const anchors = new Map<string, Node>();
  let aliases = 0;
  // pre-order, in document order (children pushed in reverse)
  const stack: Array<[unknown, number]> = [[doc.contents, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (isAlias(node)) {
      if (++aliases > MAX_YAML_ALIASES) {
        issue(node, `more than ${MAX_YAML_ALIASES} YAML aliases (*name); write the values out`);
        return { targets, issues };
      }
      const target = anchors.get(node.source);
      if (!target) issue(node, `alias *${node.source} has no anchor &${node.source} before it`);
      else if (contains(target, node)) issue(node, `alias *${node.source} is inside the node it names`);
      else targets.set(node, target);
      continue;
    }
    if (!isNode(node)) continue;
    if (node.anchor) anchors.set(node.anchor, node);
    if (!isCollection(node)) continue;
    if (depth > MAX_YAML_DEPTH) {
      issue(node, `mappings and lists nested deeper than ${MAX_YAML_DEPTH} levels`);
      return { targets, issues };
    }
    for (let i = node.items.length - 1; i >= 0; i--) {
      const item = node.items[i];
      if (isPair(item)) stack.push([item.value, depth + 1], [item.key, depth + 1]);
      else stack.push([item, depth + 1]);
    }
  }
  if (issues.length === 0 && aliases > 0) checkExpansion(doc, issue);
  return { targets, issues };
}

function contains(outer: Node, inner: Node): boolean {
  return !!outer.range && !!inner.range && inner.range[0] >= outer.range[0] && inner.range[0] < outer.range[2];
}

/** Aliases of aliases grow exponentially (a "billion laughs"): the yaml package's maxAliasCount bounds that. */
function checkExpansion(doc: Document.Parsed, issue: (node: Node, message: string) => void): void {
  try {
    doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    const first = findAlias(doc.contents);
    const what = e instanceof ReferenceError ? 'YAML aliases expand to too much data' : (e as Error).message;
    if (first) issue(first, `${what}; write the values out`);
  }
}

function findAlias(root: unknown): Alias | undefined {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isAlias(node)) return node;
    if (isPair(node)) stack.push(node.value, node.key);
    else if (isCollection(node)) for (let i = node.items.length - 1; i >= 0; i--) stack.push(node.items[i]);
  }
  return undefined;
}
