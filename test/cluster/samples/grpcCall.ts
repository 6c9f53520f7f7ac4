import * as grpc from '@grpc/grpc-js';
import { decodeEchoReply, ECHO_METHOD_PATH, encodeEchoRequest, type EchoReply } from './echoProto.js';
import type { KeyValue } from './keyValue.js';

export interface GrpcCallOptions {
  /** host:port */
  target: string;
  metadata: readonly KeyValue[];
  message: string;
  timeoutMs: number;
}

/** One unary Echo call with the real grpc-js client over an insecure channel. */
export function grpcCall(options: GrpcCallOptions): Promise<EchoReply> {
  // No TXT lookups for service config: the answer must come from the name's A/AAAA records only.
  const client = new grpc.Client(options.target, grpc.credentials.createInsecure(), {
    'grpc.service_config_disable_resolution': 1,
  });
  const metadata = new grpc.Metadata();
  for (const [k, v] of options.metadata) metadata.add(k.toLowerCase(), v);
  return new Promise<EchoReply>((resolve, reject) => {
    client.makeUnaryRequest(
      ECHO_METHOD_PATH,
      encodeEchoRequest,
      (bytes: Buffer) => decodeEchoReply(bytes),
      { message: options.message },
      metadata,
      { deadline: Date.now() + options.timeoutMs },
      (err: grpc.ServiceError | null, reply?: EchoReply) => {
        if (err) reject(new Error(`Echo on ${options.target}: ${grpc.status[err.code]} (${err.code}): ${err.details}`));
        else if (!reply) reject(new Error(`Echo on ${options.target}: no reply`));
        else resolve(reply);
      },
    );
  }).finally(() => client.close());
}
