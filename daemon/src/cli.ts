/**
 * The `telepath` command line. Today it only reports its version; `connect`, `intercept` and the
 * rest arrive with the daemon (issues #3 and #4) and will be listed here as they land.
 */
import { PRODUCT_VERSION, PROTOCOL_VERSION } from '../../protocol/src/version.js';

const HELP = `telepath — develop one Kubernetes service on your workstation

Usage:
  telepath version [--output json]   print the client and protocol versions
  telepath help                      show this help

Exit codes: 0 success, 2 usage error.
`;

export function main(argv: string[]): number {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    case 'version':
    case '--version': {
      const json = rest.join(' ').match(/--output[= ]json|-o[= ]?json/);
      if (json) {
        process.stdout.write(JSON.stringify({ client: PRODUCT_VERSION, protocol: PROTOCOL_VERSION }) + '\n');
      } else {
        process.stdout.write(`telepath ${PRODUCT_VERSION} (protocol ${PROTOCOL_VERSION})\n`);
      }
      return 0;
    }
    default:
      process.stderr.write(`telepath: unknown command "${cmd}"\n\n${HELP}`);
      return 2;
  }
}
