/**
 * The traffic-agent's entry point. It runs in the cluster on the Node image with this bundle delivered
 * in a ConfigMap; its services arrive with issue #4.
 */
import { PRODUCT_VERSION } from '../../protocol/src/version.js';

if (process.argv.includes('--version')) {
  process.stdout.write(`traffic-agent ${PRODUCT_VERSION}\n`);
} else {
  process.stderr.write('traffic-agent: not implemented yet (see the issue named in this file)\n');
  process.exitCode = 1;
}
