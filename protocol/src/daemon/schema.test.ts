import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  array,
  boolean,
  type Infer,
  integer,
  type JsonObject,
  literal,
  named,
  object,
  optional,
  type SchemaDefinitions,
  string,
  stringEnum,
  validate,
} from './schema.js';

const Thing = named(
  'Thing',
  object({
    name: string({ minLength: 1 }),
    count: optional(integer({ minimum: 0 })),
    kind: stringEnum(['a', 'b']),
    tags: array(string()),
    sure: literal(true),
    nested: optional(object({ on: boolean() })),
  }),
);
type Thing = Infer<typeof Thing>;

test('a valid value has no problems, and unknown properties are allowed', () => {
  const value: Thing = { name: 'x', kind: 'a', tags: ['t'], sure: true };
  assert.deepEqual(validate(Thing, value), []);
  assert.deepEqual(validate(Thing, { ...value, count: 3, nested: { on: false }, addedLater: 1 }), []);
});

test('every problem is reported with its path', () => {
  assert.deepEqual(validate(Thing, { name: '', count: -1.5, kind: 'c', tags: ['ok', 7], nested: { on: 'yes' } }), [
    'params.name must have at least 1 character(s)',
    'params.count must be an integer',
    'params.kind must be one of a, b',
    'params.tags[1] must be a string',
    'params.sure is required',
    'params.nested.on must be a boolean',
  ]);
  assert.deepEqual(validate(Thing, null), ['params must be an object']);
  assert.deepEqual(validate(Thing, [1]), ['params must be an object']);
});

test('JSON Schema output: required list, $ref for named schemas, definitions collected once', () => {
  const defs: SchemaDefinitions = new Map();
  const Outer = object({ a: Thing, b: optional(array(Thing)) });
  assert.deepEqual(Outer.toJson(defs), {
    type: 'object',
    properties: {
      a: { $ref: '#/components/schemas/Thing' },
      b: { type: 'array', items: { $ref: '#/components/schemas/Thing' } },
    },
    required: ['a'],
  });
  assert.deepEqual([...defs.keys()], ['Thing']);
  const thing = defs.get('Thing');
  assert.deepEqual(thing?.required, ['name', 'kind', 'tags', 'sure']);
  assert.deepEqual((thing?.properties as JsonObject).sure, { const: true });
});

test('inferred types follow the schema (checked by tsc)', () => {
  const t: Thing = { name: 'n', kind: 'b', tags: [], sure: true };
  // @ts-expect-error kind is a closed enum
  const bad: Thing = { name: 'n', kind: 'z', tags: [], sure: true };
  // @ts-expect-error name is required
  const missing: Thing = { kind: 'a', tags: [], sure: true };
  assert.ok(t && bad && missing);
});
