/**
 * Creates the scale benchmark's Services FROM … TO-1 (scaleObjects.ts), their namespaces and their
 * EndpointSlices, with the admin kubeconfig ($KUBECONFIG), many requests in flight. Run by
 * scaleBench.ts in the workstation namespace, the only one that reaches the API server:
 *   test/cluster/ws node --import tsx test/bench/scaleCreate.ts FROM TO [IN_FLIGHT]
 * Objects that exist already are left as they are, so a step can be run again. Progress on stderr;
 * one JSON line on stdout at the end: { namespaces, services, existed, seconds }.
 */
import { ApiException, CoreV1Api, DiscoveryV1Api, KubeConfig } from '@kubernetes/client-node';
import { inFlight } from './inFlight.js';
import { MAX_SERVICES, namespaceCount, namespaceOf, scaleEndpointSlice, scaleNamespace, scaleService, SERVICES_PER_NAMESPACE } from './scaleObjects.js';

const ATTEMPTS = 6;
let existed = 0;

/** The API server's answer to a failed call, in a line. */
function describe(err: unknown): string {
  if (err instanceof ApiException) {
    const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
    return `HTTP ${err.code}: ${(() => {
      try {
        return (JSON.parse(body) as { message?: string }).message ?? body;
      } catch {
        return body;
      }
    })()}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs one create: "already exists" counts as done; an overloaded or briefly unready API server
 * (429, 5xx, a dropped connection, a namespace it does not know yet) is tried again with backoff.
 */
async function create(what: string, call: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await call();
      return;
    } catch (err) {
      if (err instanceof ApiException && err.code === 409) {
        existed++;
        return;
      }
      const text = describe(err);
      if (/being terminated/.test(text)) {
        throw new Error(`creating ${what}: ${text}; an earlier run's namespaces are still being deleted — wait for "kubectl get ns -l telepath-bench=scale" to list none`);
      }
      const transient = !(err instanceof ApiException) || err.code === 429 || err.code >= 500 || err.code === 404;
      if (!transient || attempt >= ATTEMPTS) throw new Error(`creating ${what} failed (attempt ${attempt}): ${text}`);
      await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)));
    }
  }
}

async function main(from: number, to: number, limit: number): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const t0 = performance.now();
  const elapsed = (): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

  const firstNs = Math.floor(from / SERVICES_PER_NAMESPACE);
  const lastNs = namespaceCount(to);
  await inFlight(firstNs, lastNs, limit, (i) => create(`namespace ${scaleNamespace(i).metadata!.name}`, () => core.createNamespace({ body: scaleNamespace(i) })));
  process.stderr.write(`scale create: ${lastNs - firstNs} namespaces (${elapsed()})\n`);

  let done = 0;
  let reported = 0;
  await inFlight(from, to, limit, async (n) => {
    const ns = namespaceOf(n);
    await create(`Service ${ns}/${scaleService(n).metadata!.name}`, () => core.createNamespacedService({ namespace: ns, body: scaleService(n) }));
    await create(`EndpointSlice ${ns}/${scaleEndpointSlice(n).metadata!.name}`, () =>
      discovery.createNamespacedEndpointSlice({ namespace: ns, body: scaleEndpointSlice(n) }),
    );
    done++;
    if (done - reported >= Math.max(50, (to - from) / 10) || done === to - from) {
      reported = done;
      process.stderr.write(`scale create: ${done}/${to - from} Services with their EndpointSlices (${elapsed()})\n`);
    }
  });
  process.stdout.write(
    `${JSON.stringify({ namespaces: lastNs - firstNs, services: to - from, existed, seconds: (performance.now() - t0) / 1000 })}\n`,
  );
}

const [from, to, limitArg] = process.argv.slice(2).map(Number);
if (!Number.isInteger(from) || !Number.isInteger(to) || from! < 0 || to! <= from! || to! > MAX_SERVICES) {
  process.stderr.write(`usage: scaleCreate.ts FROM TO [IN_FLIGHT]   (0 <= FROM < TO <= ${MAX_SERVICES})\n`);
  process.exit(2);
}
main(from!, to!, limitArg && limitArg > 0 ? limitArg : 16).catch((err: unknown) => {
  process.stderr.write(`scale create: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
