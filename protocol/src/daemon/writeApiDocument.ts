/**
 * Writes protocol/daemonApi.openrpc.json (or the path given). Run by scripts/genProto.sh:
 *   node --import tsx protocol/src/daemon/writeApiDocument.ts [path]
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderDaemonApiDocument } from './apiDocument.js';

const target = process.argv[2] ?? path.resolve(import.meta.dirname, '../../daemonApi.openrpc.json');
writeFileSync(target, renderDaemonApiDocument());
