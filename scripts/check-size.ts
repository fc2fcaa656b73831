/**
 * Size limits a reader can hold in their head, checked in the test command (`npm run lint`):
 * no source file over 500 lines unless its opening comment says why (a line with
 * "size:"), no function over 80 lines outside test/. Prints each offender and exits 1.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const FILE_LINES = 500;
const FUNCTION_LINES = 80;
const ROOTS = ['core', 'workflows', 'activities', 'worker', 'client', 'scripts', 'bench', 'test'];

function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of require('node:fs').readdirSync(dir, { withFileTypes: true }) as import('node:fs').Dirent[]) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  walk(root);
  return out;
}

function functionName(node: ts.Node, sf: ts.SourceFile): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText(sf);
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent)) return parent.name.getText(sf);
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText(sf);
  if (parent && ts.isPropertyDeclaration(parent)) return parent.name.getText(sf);
  return '(anonymous)';
}

const problems: string[] = [];
for (const file of ROOTS.flatMap(sourceFiles)) {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n').length;
  const opening = /^\s*\/\*\*?[\s\S]*?\*\//.exec(text)?.[0] ?? '';
  if (lines > FILE_LINES && !/size:/i.test(opening)) {
    problems.push(
      `${file}: ${lines} lines (over ${FILE_LINES}; split it, or say why in its opening comment with "size:")`,
    );
  }
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  // test servers and fixtures (fake GCE, moto's proxy) are scripts of their own: files only
  const isTestCode = file.startsWith('test/');
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      // a test's body is its script; describe/test callbacks are exempt
      const call = node.parent && ts.isCallExpression(node.parent) ? node.parent.expression.getText(sf) : '';
      const isTestBody = /^(describe|test|it|beforeAll|afterAll|beforeEach|afterEach)(\.each\(.*\))?/.test(call);
      if (end - start + 1 > FUNCTION_LINES && !isTestBody && !isTestCode) {
        problems.push(
          `${file}:${start + 1}: function ${functionName(node, sf)} is ${end - start + 1} lines (over ${FUNCTION_LINES})`,
        );
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}
for (const p of problems) console.error(p);
if (problems.length) process.exit(1);
console.log(`size: every file within ${FILE_LINES} lines (or says why), every function within ${FUNCTION_LINES}`);
