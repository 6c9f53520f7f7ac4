/** Opens the platform's TUN device: the one place that chooses an implementation. */
import { LinuxTun } from './tun.linux.js';
import type { TunDevice, TunOptions } from './tunDevice.js';

export class TunUnsupportedError extends Error {
  readonly code = 'ERR_TUN_UNSUPPORTED';
  constructor(readonly platform: string) {
    super(
      `Telepath cannot create its virtual network interface on ${platform} yet (only Linux is supported). ` +
        'Outbound access to the cluster needs it; intercepts, environment and volumes work without it.',
    );
    this.name = 'TunUnsupportedError';
  }
}

export function openTun(options: TunOptions = {}, platform: NodeJS.Platform = process.platform): TunDevice {
  switch (platform) {
    case 'linux':
      return LinuxTun.open(options);
    default:
      // darwin (utun) and win32 (wintun) will get their own tun.<platform>.ts.
      throw new TunUnsupportedError(platform);
  }
}
