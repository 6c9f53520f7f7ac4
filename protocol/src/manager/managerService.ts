/**
 * The Manager service as both sides should use it: the generated definition with the tunnel
 * codec's serializer on the Tunnel stream. The bytes on the wire are the same either way, so a
 * peer that uses the plain generated definition still interoperates.
 */
import { type ChannelCredentials, type ClientOptions, makeGenericClientConstructor } from '@grpc/grpc-js';
import { ManagerClient as GeneratedManagerClient, ManagerService } from '../gen/telepath/manager/v1/manager.js';
import { decodeTunnelMessage, encodeTunnelMessage } from '../tunnel/tunnelCodec.js';

export type { ManagerServer } from '../gen/telepath/manager/v1/manager.js';

const SERVICE_NAME = 'telepath.manager.v1.Manager';

/** Pass to `server.addService(managerService, implementation)`. */
export const managerService = {
  ...ManagerService,
  tunnel: {
    ...ManagerService.tunnel,
    requestSerialize: encodeTunnelMessage,
    requestDeserialize: decodeTunnelMessage,
    responseSerialize: encodeTunnelMessage,
    responseDeserialize: decodeTunnelMessage,
  },
} as const;

interface ManagerClientConstructor {
  new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>): GeneratedManagerClient;
  service: typeof managerService;
  serviceName: string;
}

/** `new ManagerClient(address, credentials, options)`: a client of the Manager service. */
export const ManagerClient = makeGenericClientConstructor(
  managerService,
  SERVICE_NAME,
) as unknown as ManagerClientConstructor;
export type ManagerClient = GeneratedManagerClient;
