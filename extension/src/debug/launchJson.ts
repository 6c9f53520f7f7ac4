/**
 * Editing launch.json as text, so that the user's comments, other entries and layout stay byte
 * for byte: jsonc-parser finds where things are, and only the Telepath entry's own text is
 * written. The same intercept (workload and namespace) replaces its own entry, so running
 * "Intercept and Debug" twice changes nothing the second time.
 */
import { createScanner, findNodeAtLocation, getNodeValue, parseTree, printParseErrorCode, type Node, type ParseError, type SyntaxKind } from 'jsonc-parser';
import { MARKER_PROPERTY, parseMarker, sameIntercept, type TelepathMarker } from './telepathMarker.js';

/** jsonc-parser's SyntaxKind is a const enum, which isolatedModules cannot read: its values. */
const COMMA = 5 as SyntaxKind;
const TRIVIA = new Set<number>([12, 13, 14, 15]); // line comment, block comment, line break, whitespace

export interface LaunchEntry {
  name: string;
  type: string;
  request: string;
  telepath: TelepathMarker;
  [key: string]: unknown;
}

export interface Indentation {
  insertSpaces: boolean;
  tabSize: number;
}

export class LaunchJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LaunchJsonError';
  }
}

/** A launch.json of our own, when the folder has none. */
export function newLaunchJson(indent: Indentation, eol = '\n'): string {
  const u = unit(indent);
  return [
    '{',
    `${u}// Use IntelliSense to learn about possible attributes.`,
    `${u}// Entries with a "telepath" property start that intercept before debugging (Telepath).`,
    `${u}"version": "0.2.0",`,
    `${u}"configurations": []`,
    '}',
    '',
  ].join(eol);
}

/** The configurations a launch.json holds (for choosing one to start from). */
export function readConfigurations(text: string | undefined): Record<string, unknown>[] {
  if (!text?.trim()) return [];
  const root = parse(text);
  const configs = findNodeAtLocation(root, ['configurations']);
  if (!configs || configs.type !== 'array') return [];
  // Plain objects (jsonc-parser makes them without a prototype).
  return (configs.children ?? []).filter((c) => c.type === 'object').map((c) => JSON.parse(JSON.stringify(getNodeValue(c))) as Record<string, unknown>);
}

/** Where `entry` would go: the index of the same intercept's entry (or one of the same name), else -1. */
export function findEntry(configurations: readonly Record<string, unknown>[], entry: Pick<LaunchEntry, 'name' | 'telepath'>): number {
  const byMarker = configurations.findIndex((c) => {
    const m = parseMarker(c[MARKER_PROPERTY]);
    return typeof m !== 'string' && sameIntercept(m, entry.telepath);
  });
  return byMarker >= 0 ? byMarker : configurations.findIndex((c) => c.name === entry.name);
}

/**
 * launch.json's text with `entry` in it: replacing the entry of the same intercept (or of the
 * same name), else appended; everything else unchanged.
 * @throws LaunchJsonError when the text is not a JSON object (with comments) that could be edited safely
 */
export function upsertLaunchEntry(text: string | undefined, entry: LaunchEntry, indent: Indentation): { text: string; replaced: boolean } {
  const eol = text?.includes('\r\n') ? '\r\n' : '\n';
  const source = text?.trim() ? text : newLaunchJson(indent, eol);
  const root = parse(source);
  const u = detectUnit(source, root) ?? unit(indent);
  let configs = findNodeAtLocation(root, ['configurations']);
  if (configs && configs.type !== 'array') throw new LaunchJsonError('"configurations" in launch.json is not an array');
  let working = source;
  if (!configs) {
    working = addConfigurationsProperty(source, root, u, eol);
    configs = findNodeAtLocation(parse(working), ['configurations'])!;
  }
  const children = configs.children ?? [];
  const index = findEntry(children.map((c) => (c.type === 'object' ? (getNodeValue(c) as Record<string, unknown>) : {})), entry);
  if (index >= 0) {
    const child = children[index]!;
    const at = lineIndent(working, child.offset);
    const replacement = render(entry, at, u, eol);
    return { text: working.slice(0, child.offset) + replacement + working.slice(child.offset + child.length), replaced: true };
  }
  if (children.length === 0) {
    const closing = lineIndent(working, configs.offset);
    const open = configs.offset + 1; // after "["
    const close = configs.offset + configs.length - 1; // at "]"
    const inner = working.slice(open, close);
    // Keep comments inside an empty array; put the entry after them.
    const kept = inner.trim() ? inner.replace(/\s+$/, '') : '';
    const body = `${kept}${eol}${closing}${u}${render(entry, closing + u, u, eol)}${eol}${closing}`;
    return { text: working.slice(0, open) + body + working.slice(close), replaced: false };
  }
  const last = children[children.length - 1]!;
  const at = lineIndent(working, last.offset);
  const end = last.offset + last.length;
  const hasTrailingComma = tokenAfter(working, end).kind === COMMA;
  const afterComma = hasTrailingComma ? tokenAfter(working, end).offset + 1 : end;
  const insertAt = endOfLineIfOnlyTrivia(working, afterComma);
  // With a trailing comma, the new entry gets one too, so the file keeps its style.
  const added = `${eol}${at}${render(entry, at, u, eol)}${hasTrailingComma ? ',' : ''}`;
  let out = working.slice(0, insertAt) + added + working.slice(insertAt);
  if (!hasTrailingComma) out = `${out.slice(0, end)},${out.slice(end)}`;
  return { text: out, replaced: false };
}

function parse(text: string): Node {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length > 0) {
    const e = errors[0]!;
    const line = text.slice(0, e.offset).split('\n').length;
    throw new LaunchJsonError(`launch.json has a syntax error (${printParseErrorCode(e.error)}) on line ${line}; fix it and try again`);
  }
  if (!root || root.type !== 'object') throw new LaunchJsonError('launch.json does not hold a JSON object');
  return root;
}

function unit(indent: Indentation): string {
  return indent.insertSpaces ? ' '.repeat(indent.tabSize) : '\t';
}

/** The file's own indentation step: that of its first top-level property, when on a line of its own. */
function detectUnit(text: string, root: Node): string | undefined {
  const first = root.children?.[0];
  if (!first) return undefined;
  const indent = lineIndent(text, first.offset);
  const lineStart = text.lastIndexOf('\n', first.offset - 1) + 1;
  return indent && lineStart + indent.length === first.offset ? indent : undefined;
}

/** The whitespace that starts the line `offset` is on. */
function lineIndent(text: string, offset: number): string {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  return /^[ \t]*/.exec(text.slice(lineStart))![0];
}

/** The entry as JSON, its lines after the first indented to sit at `at`. */
function render(entry: LaunchEntry, at: string, u: string, eol: string): string {
  return JSON.stringify(entry, null, u).split('\n').join(`${eol}${at}`);
}

/** The first token after `offset` that is not whitespace, a line break or a comment. */
function tokenAfter(text: string, offset: number): { kind: SyntaxKind; offset: number } {
  const scanner = createScanner(text, false);
  scanner.setPosition(offset);
  for (;;) {
    const kind = scanner.scan();
    if (TRIVIA.has(kind)) continue;
    return { kind, offset: scanner.getTokenOffset() };
  }
}

/** Past a comment that ends the line (so it stays with its entry), when nothing else follows on it. */
function endOfLineIfOnlyTrivia(text: string, offset: number): number {
  const m = /^[ \t]*(\/\/[^\r\n]*|\/\*[^\r\n]*?\*\/[ \t]*)?(?=\r?\n)/.exec(text.slice(offset));
  return m ? offset + m[0].length : offset;
}

/** Adds `"configurations": []` as the object's last property. */
function addConfigurationsProperty(text: string, root: Node, u: string, eol: string): string {
  const props = root.children ?? [];
  const close = root.offset + root.length - 1;
  if (props.length === 0) {
    return `${text.slice(0, root.offset)}{${eol}${u}"version": "0.2.0",${eol}${u}"configurations": []${eol}}${text.slice(close + 1)}`;
  }
  const last = props[props.length - 1]!;
  const end = last.offset + last.length;
  const after = tokenAfter(text, end);
  const hasComma = after.kind === COMMA;
  const from = hasComma ? after.offset + 1 : end;
  const insertAt = endOfLineIfOnlyTrivia(text, from);
  const at = lineIndent(text, last.offset);
  const withProp = `${text.slice(0, insertAt)}${eol}${at}"configurations": []${text.slice(insertAt)}`;
  return hasComma ? withProp : `${withProp.slice(0, end)},${withProp.slice(end)}`;
}
