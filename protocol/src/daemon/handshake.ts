/**
 * The initialize handshake, as the daemon answers it. It lives beside the contract so that the
 * compatibility rule has one home and the protocol tests exercise the daemon's actual answer.
 */
import { PRODUCT_VERSION, PROTOCOL_VERSION, protocolCompatible } from '../version.js';
import { daemonError, ErrorCode } from './errors.js';
import { daemonNotifications, daemonRequests } from './methods.js';
import type { InitializeParams, InitializeResult } from './types.js';

/**
 * The daemon's reply to `initialize`.
 * @throws ResponseError IncompatibleProtocol when the client's protocol cannot talk to ours
 */
export function answerInitialize(params: InitializeParams, daemonVersion = PRODUCT_VERSION): InitializeResult {
  if (!protocolCompatible(params.protocolVersion, PROTOCOL_VERSION)) {
    throw daemonError(
      ErrorCode.IncompatibleProtocol,
      `${params.clientName} speaks Telepath protocol ${params.protocolVersion}, but the daemon ` +
        `(Telepath ${daemonVersion}) speaks ${PROTOCOL_VERSION}. Update the older of the two; to ` +
        `replace a running daemon, stop it with "telepath quit" (quit needs no handshake).`,
      {
        clientProtocolVersion: params.protocolVersion,
        daemonProtocolVersion: PROTOCOL_VERSION,
        daemonVersion,
      },
    );
  }
  return {
    daemonVersion,
    protocolVersion: PROTOCOL_VERSION,
    capabilities: {
      methods: Object.values(daemonRequests).map((r) => r.method),
      notifications: Object.values(daemonNotifications).map((n) => n.method),
    },
  };
}
