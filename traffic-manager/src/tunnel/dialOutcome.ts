/** How a failed dial is reported to the client, which turns it into a RST or an ICMP error. */
import { DialOutcome } from '../../../protocol/src/gen/telepath/tunnel/v1/tunnel.js';

export function dialOutcomeOf(error: unknown): DialOutcome {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return DialOutcome.REFUSED;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return DialOutcome.UNREACHABLE;
    case 'ETIMEDOUT':
      return DialOutcome.TIMEOUT;
    default:
      return DialOutcome.FAILED;
  }
}
