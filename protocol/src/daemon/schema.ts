/**
 * A small schema language for the daemon's JSON-RPC API. One definition yields three things that
 * must never drift apart: the TypeScript type (`Infer<typeof X>`), the JSON Schema published in
 * protocol/daemonApi.openrpc.json for editors in other languages, and a run-time check the daemon
 * applies to incoming params. Only what the API needs is here.
 *
 * Objects accept properties they do not know, so that a newer client can send an older daemon a
 * field the daemon ignores; that is how the API grows without breaking.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue; };
export type JsonObject = { [key: string]: JsonValue; };

/** Named schemas met while rendering, in the order first met. */
export type SchemaDefinitions = Map<string, JsonObject>;

export interface Schema<T> {
  /** Carries the TypeScript type; never set at run time. */
  readonly __type?: T;
  /** The JSON Schema of this value; named schemas render as a $ref and land in `definitions`. */
  toJson(definitions: SchemaDefinitions): JsonObject;
  /** Appends one line per problem with `value`; `path` names where it sits, e.g. "params.level". */
  check(value: unknown, path: string, problems: string[]): void;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

/** An object property that may be absent. */
export interface OptionalSchema<T> extends Schema<T> {
  readonly optional: true;
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<P extends Shape> = { [K in keyof P]: P[K] extends OptionalSchema<unknown> ? K : never; }[keyof P];
type RequiredKeys<P extends Shape> = Exclude<keyof P, OptionalKeys<P>>;
type Simplify<T> = { [K in keyof T]: T[K]; } & unknown;
export type ObjectOf<P extends Shape> = Simplify<
  { [K in RequiredKeys<P>]: Infer<P[K]>; } & { [K in OptionalKeys<P>]?: Infer<P[K]>; }
>;

export interface ObjectSchema<T> extends Schema<T> {
  readonly shape: Shape;
  readonly description: string | undefined;
}

interface Doc {
  description?: string;
}

function withDoc(json: JsonObject, doc: Doc | undefined): JsonObject {
  return doc?.description === undefined ? json : { ...json, description: doc.description };
}

function leaf<T>(json: JsonObject, test: (v: unknown) => string | undefined): Schema<T> {
  return {
    toJson: () => json,
    check(value, path, problems) {
      const problem = test(value);
      if (problem !== undefined) problems.push(`${path} ${problem}`);
    },
  };
}

export function string(doc?: Doc & { minLength?: number; }): Schema<string> {
  const min = doc?.minLength ?? 0;
  const json = withDoc({ type: 'string', ...(min > 0 ? { minLength: min } : {}) }, doc);
  return leaf(
    json,
    (v) =>
      typeof v !== 'string'
        ? 'must be a string'
        : v.length < min
        ? `must have at least ${min} character(s)`
        : undefined,
  );
}

export function boolean(doc?: Doc): Schema<boolean> {
  return leaf(withDoc({ type: 'boolean' }, doc), (v) => (typeof v === 'boolean' ? undefined : 'must be a boolean'));
}

export function integer(doc?: Doc & { minimum?: number; maximum?: number; }): Schema<number> {
  const json: JsonObject = { type: 'integer' };
  if (doc?.minimum !== undefined) json.minimum = doc.minimum;
  if (doc?.maximum !== undefined) json.maximum = doc.maximum;
  return leaf(withDoc(json, doc), (v) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) return 'must be an integer';
    if (doc?.minimum !== undefined && v < doc.minimum) return `must be at least ${doc.minimum}`;
    if (doc?.maximum !== undefined && v > doc.maximum) return `must be at most ${doc.maximum}`;
    return undefined;
  });
}

export function literal<const V extends string | number | boolean>(value: V, doc?: Doc): Schema<V> {
  return leaf(withDoc({ const: value }, doc), (v) => (v === value ? undefined : `must be ${JSON.stringify(value)}`));
}

export function stringEnum<const V extends readonly [string, ...string[]]>(values: V, doc?: Doc): Schema<V[number]> {
  return leaf(
    withDoc({ type: 'string', enum: [...values] }, doc),
    (v) => typeof v === 'string' && values.includes(v) ? undefined : `must be one of ${values.join(', ')}`,
  );
}

export function array<T>(items: Schema<T>, doc?: Doc): Schema<T[]> {
  return {
    toJson: (defs) => withDoc({ type: 'array', items: items.toJson(defs) }, doc),
    check(value, path, problems) {
      if (!Array.isArray(value)) {
        problems.push(`${path} must be an array`);
        return;
      }
      value.forEach((item, i) => items.check(item, `${path}[${i}]`, problems));
    },
  };
}

/** An object with arbitrary keys, each holding a string (an environment, labels). */
export function stringMap(doc?: Doc): Schema<Record<string, string>> {
  return {
    toJson: () => withDoc({ type: 'object', additionalProperties: { type: 'string' } }, doc),
    check(value, path, problems) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        problems.push(`${path} must be an object`);
        return;
      }
      for (const [k, v] of Object.entries(value)) if (typeof v !== 'string') problems.push(`${path}.${k} must be a string`);
    },
  };
}

export function optional<T>(schema: Schema<T>): OptionalSchema<T> {
  return { ...schema, optional: true };
}

export function object<P extends Shape>(shape: P, doc?: Doc): ObjectSchema<ObjectOf<P>> {
  const entries = Object.entries(shape);
  return {
    shape,
    description: doc?.description,
    toJson(defs) {
      const properties: JsonObject = {};
      const required: string[] = [];
      for (const [key, schema] of entries) {
        properties[key] = schema.toJson(defs);
        if (!isOptional(schema)) required.push(key);
      }
      return withDoc({ type: 'object', properties, ...(required.length > 0 ? { required } : {}) }, doc);
    },
    check(value, path, problems) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        problems.push(`${path} must be an object`);
        return;
      }
      const record = value as Record<string, unknown>;
      for (const [key, schema] of entries) {
        const v = record[key];
        if (v === undefined) {
          if (!isOptional(schema)) problems.push(`${path}.${key} is required`);
        } else {
          schema.check(v, `${path}.${key}`, problems);
        }
      }
    },
  };
}

/**
 * Gives a schema a name: it renders as `{"$ref": "#/components/schemas/<name>"}` and its body is
 * published once under that name, so editors can generate one type per name.
 */
export function named<T>(name: string, schema: ObjectSchema<T>): ObjectSchema<T>;
export function named<T>(name: string, schema: Schema<T>): Schema<T>;
export function named<T>(name: string, schema: Schema<T>): Schema<T> {
  return {
    ...schema,
    toJson(defs) {
      if (!defs.has(name)) {
        defs.set(name, {}); // reserve the slot first, so a recursive schema terminates
        defs.set(name, schema.toJson(defs));
      }
      return { $ref: `#/components/schemas/${name}` };
    },
  };
}

function isOptional(schema: Schema<unknown>): boolean {
  return (schema as Partial<OptionalSchema<unknown>>).optional === true;
}

/** The problems with `value` as an instance of `schema`; empty when it is valid. */
export function validate<T>(schema: Schema<T>, value: unknown, path = 'params'): string[] {
  const problems: string[] = [];
  schema.check(value, path, problems);
  return problems;
}
