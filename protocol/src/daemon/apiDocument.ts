/**
 * Renders the daemon's API as an OpenRPC 1.3 document (https://spec.open-rpc.org), so that an
 * editor in any language can generate a client or validate messages. Written to
 * protocol/daemonApi.openrpc.json by scripts/genProto.sh; a test keeps the file current.
 *
 * OpenRPC has no notion of direction, so each method says it in "x-direction"; notifications are
 * methods without a result, as the spec has it.
 */
import { PROTOCOL_VERSION } from '../version.js';
import { type ErrorCode, errorInfo, ERRORS } from './errors.js';
import { type DaemonMethod, daemonNotifications, daemonRequests, HANDSHAKE_FREE_METHODS } from './methods.js';
import type { JsonObject, JsonValue, ObjectSchema, SchemaDefinitions } from './schema.js';

function contentDescriptors(params: ObjectSchema<unknown>, defs: SchemaDefinitions): JsonValue[] {
  return Object.entries(params.shape).map(([name, schema]) => ({
    name,
    required: (schema as { optional?: boolean; }).optional !== true,
    schema: schema.toJson(defs),
  }));
}

function errorRef(code: ErrorCode): JsonObject {
  const info = errorInfo(code);
  if (!info) throw new Error(`error code ${code} is not in ERRORS`);
  return { $ref: `#/components/errors/${info.name}` };
}

function withDescription(obj: JsonObject, description: string | undefined): JsonObject {
  return description === undefined ? obj : { ...obj, description };
}

export function buildDaemonApiDocument(): JsonObject {
  const defs: SchemaDefinitions = new Map();
  const methods: JsonValue[] = [];
  for (const [key, r] of Object.entries(daemonRequests)) {
    methods.push(
      withDescription(
        {
          name: r.method,
          summary: r.summary,
          'x-direction': 'client-to-daemon',
          'x-needsInitialize': !HANDSHAKE_FREE_METHODS.includes(key as DaemonMethod),
          paramStructure: 'by-name',
          params: contentDescriptors(r.params, defs),
          'x-paramsSchema': r.params.toJson(defs),
          result: { name: `${r.method}Result`, schema: r.result.toJson(defs) },
          errors: r.errors.map(errorRef),
        },
        r.description,
      ),
    );
  }
  for (const n of Object.values(daemonNotifications)) {
    methods.push(
      withDescription(
        {
          name: n.method,
          summary: n.summary,
          'x-direction': 'daemon-to-client',
          paramStructure: 'by-name',
          params: contentDescriptors(n.params, defs),
          'x-paramsSchema': n.params.toJson(defs),
        },
        n.description,
      ),
    );
  }
  const schemas: JsonObject = {};
  for (const name of [...defs.keys()].sort()) schemas[name] = defs.get(name) ?? {};
  const errors: JsonObject = {};
  for (const [name, e] of Object.entries(ERRORS)) {
    errors[name] = { code: e.code, message: name, data: { category: e.category }, 'x-description': e.description };
  }
  return {
    openrpc: '1.3.2',
    info: {
      title: 'Telepath daemon API',
      version: PROTOCOL_VERSION,
      description: 'JSON-RPC 2.0 with Content-Length framing (as LSP) over the daemon unix socket. Call initialize ' +
        'first; only version and quit work without it. Error replies carry data.category ' +
        '(user | config | cluster | internal): for internal, point the user at the daemon log. ' +
        'Objects may gain properties: ignore the ones you do not know.',
    },
    methods,
    components: { schemas, errors },
  };
}

/** The file's exact text: stable key order, two-space indent, final newline. */
export function renderDaemonApiDocument(): string {
  return `${JSON.stringify(buildDaemonApiDocument(), null, 2)}\n`;
}
