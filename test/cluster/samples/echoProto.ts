import * as protobuf from 'protobufjs';

/**
 * The sample Echo service. Inlined as text so the bundle needs no file at run time; the
 * message types below are parsed from it, not hand-written codecs.
 */
export const ECHO_PROTO = `
syntax = "proto3";
package telepath.samples;

service Echo {
  rpc Echo (EchoRequest) returns (EchoReply);
}

message EchoRequest {
  string message = 1;
}

message EchoReply {
  string message = 1;
  string pod = 2;
  string greeting = 3;
  string secret = 4;
  string config = 5;
  map<string, string> metadata = 6;
}
`;

export const ECHO_SERVICE = 'telepath.samples.Echo';
export const ECHO_METHOD_PATH = `/${ECHO_SERVICE}/Echo`;

export interface EchoRequest {
  message: string;
}

export interface EchoReply {
  message: string;
  pod: string;
  greeting: string;
  secret: string;
  config: string;
  metadata: Record<string, string>;
}

const root = protobuf.parse(ECHO_PROTO, { keepCase: true }).root;
const requestType = root.lookupType('telepath.samples.EchoRequest');
const replyType = root.lookupType('telepath.samples.EchoReply');
const toObjectOptions: protobuf.IConversionOptions = { defaults: true, objects: true };

export function encodeEchoRequest(request: EchoRequest): Buffer {
  return Buffer.from(requestType.encode(requestType.fromObject(request)).finish());
}

export function decodeEchoRequest(bytes: Uint8Array): EchoRequest {
  const o = requestType.toObject(requestType.decode(bytes), toObjectOptions);
  return { message: String(o.message) };
}

export function encodeEchoReply(reply: EchoReply): Buffer {
  return Buffer.from(replyType.encode(replyType.fromObject(reply)).finish());
}

export function decodeEchoReply(bytes: Uint8Array): EchoReply {
  const o = replyType.toObject(replyType.decode(bytes), toObjectOptions);
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.metadata as Record<string, unknown>)) metadata[k] = String(v);
  return {
    message: String(o.message),
    pod: String(o.pod),
    greeting: String(o.greeting),
    secret: String(o.secret),
    config: String(o.config),
    metadata,
  };
}
