/**
 * An nginx configuration file as a tree of directives, for tests that check what it says
 * (upstreams, buffering). Enough of nginx's syntax for the files of deploy/: words, quoted
 * strings, `#` comments, `;` and `{ }` blocks. Anything it cannot place is an error, so a
 * check never passes on a file it misread; `nginx -t` is the authority on validity.
 */
import { readFileSync } from 'node:fs';

export interface NginxDirective {
  name: string;
  args: string[];
  /** The directives inside `{ }`, for block directives (http, server, upstream, location). */
  block?: NginxDirective[];
}

type Token = { kind: 'word'; text: string } | { kind: ';' | '{' | '}' };

function tokens(text: string, path: string): Token[] {
  const out: Token[] = [];
  const re = /\s+|#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([;{}])|([^\s;{}"'#]+)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < text.length && (m = re.exec(text)) !== null) {
    if (m[1] !== undefined || m[2] !== undefined) out.push({ kind: 'word', text: m[1] ?? m[2] ?? '' });
    else if (m[3] !== undefined) out.push({ kind: m[3] as ';' | '{' | '}' });
    else if (m[4] !== undefined) out.push({ kind: 'word', text: m[4] });
  }
  if (re.lastIndex < text.length) throw new Error(`${path}: cannot read from offset ${re.lastIndex}: ${JSON.stringify(text.slice(re.lastIndex, re.lastIndex + 40))}`);
  return out;
}

/** The top-level directives of the file at `path`. */
export function nginxDirectives(path: string): NginxDirective[] {
  const list = tokens(readFileSync(path, 'utf8'), path);
  let i = 0;
  const parse = (depth: number): NginxDirective[] => {
    const directives: NginxDirective[] = [];
    while (i < list.length) {
      const first = list[i];
      if (first?.kind === '}') {
        if (depth === 0) throw new Error(`${path}: unbalanced "}"`);
        i++;
        return directives;
      }
      if (first?.kind !== 'word') throw new Error(`${path}: expected a directive name, got "${first?.kind ?? 'end'}"`);
      i++;
      const args: string[] = [];
      for (;;) {
        const t = list[i++];
        if (t === undefined) throw new Error(`${path}: directive "${first.text}" is not ended by ";" or a block`);
        if (t.kind === 'word') args.push(t.text);
        else if (t.kind === ';') {
          directives.push({ name: first.text, args });
          break;
        } else if (t.kind === '{') {
          directives.push({ name: first.text, args, block: parse(depth + 1) });
          break;
        } else throw new Error(`${path}: unexpected "}" in directive "${first.text}"`);
      }
    }
    if (depth > 0) throw new Error(`${path}: a block is not closed`);
    return directives;
  };
  return parse(0);
}
