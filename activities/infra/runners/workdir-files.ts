/**
 * Which files of a workdir are uploaded: .skyignore (else .gitignore) patterns with git's rules,
 * and .git always excluded.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

interface IgnoreRule {
  re: RegExp;
  negate: boolean;
  dirOnly: boolean;
  /** matched against the whole relative path (the pattern had a slash), else the base name */
  anchored: boolean;
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      if (glob[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[' && glob.indexOf(']', i + 2) > 0) {
      const j = glob.indexOf(']', i + 2);
      re += `[${glob
        .slice(i + 1, j)
        .replace(/^!/, '^')
        .replace(/\\/g, '\\\\')}]`;
      i = j;
    } else if (c === '\\' && i + 1 < glob.length) re += glob[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function parseIgnore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (let line of text.split(/\r?\n/)) {
    line = line.replace(/(?<!\\)\s+$/, '');
    if (!line || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1);
    const dirOnly = line.endsWith('/');
    if (dirOnly) line = line.slice(0, -1);
    const anchored = line.includes('/');
    if (line.startsWith('/')) line = line.slice(1);
    if (line) rules.push({ re: globToRegExp(line), negate, dirOnly, anchored });
  }
  return rules;
}

/** Git's rule: the last matching pattern decides. `rel` uses forward slashes. */
export function isIgnored(rules: IgnoreRule[], rel: string, isDir: boolean): boolean {
  const base = rel.slice(rel.lastIndexOf('/') + 1);
  let out = false;
  for (const r of rules) if ((!r.dirOnly || isDir) && r.re.test(r.anchored ? rel : base)) out = !r.negate;
  return out;
}

export interface LocalFile {
  rel: string;
  abs: string;
  size: number;
  mtime: number;
  mode: number;
}

export async function listWorkdir(root: string): Promise<{ files: LocalFile[]; dirs: string[] }> {
  const ignoreText =
    (await fsp.readFile(path.join(root, '.skyignore'), 'utf8').catch(() => undefined)) ??
    (await fsp.readFile(path.join(root, '.gitignore'), 'utf8').catch(() => ''));
  const rules = parseIgnore(ignoreText);
  const files: LocalFile[] = [];
  const dirs: string[] = [];
  const walk = async (relDir: string): Promise<void> => {
    for (const e of await fsp.readdir(path.join(root, relDir), { withFileTypes: true })) {
      if (e.name === '.git') continue;
      const rel = relDir ? `${relDir}/${e.name}` : e.name;
      const abs = path.join(root, rel);
      if (e.isDirectory()) {
        if (isIgnored(rules, rel, true)) continue;
        dirs.push(rel);
        await walk(rel);
      } else if (e.isFile() || e.isSymbolicLink()) {
        const st = await fsp.stat(abs).catch(() => undefined); // symlinks: their target's contents
        if (!st?.isFile() || isIgnored(rules, rel, false)) continue;
        files.push({ rel, abs, size: st.size, mtime: Math.floor(st.mtimeMs / 1000), mode: st.mode & 0o777 });
      }
    }
  };
  await walk('');
  return { files, dirs };
}
