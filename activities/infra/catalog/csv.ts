/**
 * A small CSV reader for SkyPilot catalog files: a header row, `,` separators, fields that may be
 * double-quoted (with `""` for a quote, and commas or newlines inside), LF or CRLF line ends.
 * Lines without a quote take a fast path (split on ','), which is most of a catalog.
 */

export interface CsvTable {
  header: string[];
  rows: string[][];
  /** exact duplicate records skipped (only with `dedupe`) */
  duplicates: number;
}

/** One record that contains a quote, from `start`; returns its fields and where the next begins. */
function quotedRecord(text: string, start: number): { fields: string[]; next: number } {
  const fields: string[] = [];
  let field = '';
  let i = start;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      // quoted section: copy up to the closing quote, unescaping ""
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) {
          field += text.slice(i);
          i = n;
          break;
        }
        field += text.slice(i, q);
        if (text.charCodeAt(q + 1) === 34) {
          field += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
    } else if (c === 44 /* , */) {
      fields.push(field);
      field = '';
      i++;
    } else if (c === 10 /* \n */ || c === 13 /* \r */) {
      fields.push(field);
      if (c === 13 && text.charCodeAt(i + 1) === 10) i++;
      return { fields, next: i + 1 };
    } else {
      field += text[i];
      i++;
    }
  }
  fields.push(field);
  return { fields, next: n };
}

export function parseCsv(text: string, opts: { dedupe?: boolean } = {}): CsvTable {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = text.length;
  const seen = opts.dedupe ? new Set<string>() : undefined;
  let header: string[] | undefined;
  const rows: string[][] = [];
  let duplicates = 0;
  while (i < n) {
    let end = text.indexOf('\n', i);
    if (end < 0) end = n;
    let raw = text.slice(i, end);
    let fields: string[];
    if (raw.indexOf('"') < 0) {
      if (raw.endsWith('\r')) raw = raw.slice(0, -1);
      fields = raw.split(',');
      i = end + 1;
    } else {
      const r = quotedRecord(text, i);
      raw = text.slice(i, r.next).replace(/\r?\n$/, '');
      fields = r.fields;
      i = r.next;
    }
    if (raw.trim() === '') continue;
    if (!header) {
      header = fields.map((f) => f.trim());
      continue;
    }
    if (seen) {
      if (seen.has(raw)) {
        duplicates++;
        continue;
      }
      seen.add(raw);
    }
    rows.push(fields);
  }
  return { header: header ?? [], rows, duplicates };
}
