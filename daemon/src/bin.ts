// Entry of the `telepath` executable bundle; everything else is importable without side effects.
import { main } from './cli.js';

process.exitCode = main(process.argv.slice(2));
