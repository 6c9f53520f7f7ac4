/**
 * Short names, as Telepresence resolves them: a name without a dot is a Service in the client's
 * connected namespace. The manager asks the cluster DNS directly (no search list applies), so it
 * expands the name itself and gives the answers back under the name that was asked.
 */
import type { DNSRecord } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { sameName } from './dnsWire.js';

/** `web` → `web.<namespace>.svc.<clusterDomain>`; any name with a dot is returned as given. */
export function qualifyName(name: string, namespace: string, clusterDomain: string): string {
  const n = name.replace(/\.$/, '');
  if (n === '' || n.includes('.') || !namespace) return n;
  return `${n}.${namespace}.svc.${clusterDomain}`;
}

/** The answers with every owner equal to `asked` (the expanded name) renamed to `original`. */
export function renameOwners(answers: DNSRecord[], asked: string, original: string): DNSRecord[] {
  if (sameName(asked, original)) return answers;
  return answers.map((a) => (sameName(a.name, asked) ? { ...a, name: original } : a));
}
