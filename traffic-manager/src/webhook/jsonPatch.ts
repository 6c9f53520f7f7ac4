/**
 * RFC 6902 JSON Patch, the only patch format an admission webhook may answer with, and RFC 6901
 * JSON Pointer paths for it. The applier follows the API server's rules (a missing parent or an
 * out-of-range index is an error, not something to create), so tests that apply our patches fail
 * where the API server would refuse them.
 */

export type JsonPatchOp =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** A JSON Pointer from raw tokens: `~` becomes `~0` and `/` becomes `~1` (so annotation keys work). */
export function jsonPointer(...tokens: (string | number)[]): string {
  return tokens.map((t) => `/${String(t).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** Applies `patch` to a deep copy of `doc` and returns it; throws on the first operation that fails. */
export function applyJsonPatch<T>(doc: T, patch: readonly JsonPatchOp[]): T {
  let root: unknown = structuredClone(doc);
  for (const [i, op] of patch.entries()) {
    try {
      root = applyOne(root, op);
    } catch (e) {
      throw new Error(`JSON patch operation ${i} (${op.op} ${op.path}): ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return root as T;
}

function parsePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error('a pointer starts with "/"');
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function applyOne(root: unknown, op: JsonPatchOp): unknown {
  const tokens = parsePointer(op.path);
  if (tokens.length === 0) {
    if (op.op === 'remove') throw new Error('cannot remove the document');
    if (op.op === 'test') return assertEqual(root, op.value, root);
    return structuredClone(op.value);
  }
  const last = tokens[tokens.length - 1];
  const parent = resolve(root, tokens.slice(0, -1));
  if (Array.isArray(parent)) {
    const index = last === '-' && op.op === 'add' ? parent.length : arrayIndex(last, parent.length, op.op === 'add');
    switch (op.op) {
      case 'add':
        parent.splice(index, 0, structuredClone(op.value));
        break;
      case 'replace':
        parent[index] = structuredClone(op.value);
        break;
      case 'remove':
        parent.splice(index, 1);
        break;
      case 'test':
        assertEqual(parent[index], op.value, root);
    }
    return root;
  }
  if (typeof parent !== 'object' || parent === null) throw new Error('the parent is not a container');
  const obj = parent as Record<string, unknown>;
  const exists = Object.prototype.hasOwnProperty.call(obj, last);
  if (op.op !== 'add' && !exists) throw new Error(`no member ${JSON.stringify(last)}`);
  switch (op.op) {
    case 'add':
    case 'replace':
      obj[last] = structuredClone(op.value);
      break;
    case 'remove':
      delete obj[last];
      break;
    case 'test':
      assertEqual(obj[last], op.value, root);
  }
  return root;
}

function resolve(root: unknown, tokens: string[]): unknown {
  let cur = root;
  for (const t of tokens) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(t, cur.length, false)];
    else if (typeof cur === 'object' && cur !== null && Object.prototype.hasOwnProperty.call(cur, t)) cur = (cur as Record<string, unknown>)[t];
    else throw new Error(`path not found at ${JSON.stringify(t)}`);
  }
  return cur;
}

function arrayIndex(token: string, length: number, forAdd: boolean): number {
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new Error(`bad array index ${JSON.stringify(token)}`);
  const i = Number(token);
  if (i > length || (!forAdd && i === length)) throw new Error(`index ${i} out of range (length ${length})`);
  return i;
}

function assertEqual(actual: unknown, expected: unknown, root: unknown): unknown {
  if (JSON.stringify(canonical(actual)) !== JSON.stringify(canonical(expected))) throw new Error('test failed');
  return root;
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}
