/**
 * The traffic-manager's entry point. It runs in the cluster on the Node image with this bundle delivered
 * in a ConfigMap; its services arrive with issue #3.
 */
import { PRODUCT_VERSION } from '../../protocol/src/version.js';

if (process.argv.includes('--version')) {
  process.stdout.write(`traffic-manager ${PRODUCT_VERSION}\n`);
} else {
  process.stderr.write('traffic-manager: not implemented yet (see the issue named in this file)\n');
  process.exitCode = 1;
}
