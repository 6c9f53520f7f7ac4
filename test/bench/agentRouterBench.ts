/**
 * Local micro-benchmark of the traffic-agent's HTTP/1 router (not a test): the CPU the router
 * process spends per request that goes to the app. Three processes: the app (an HTTP echo server),
 * the router (a PortRouter with one personal-intercept rule whose workstation is another local
 * echo server), and this one, the load: REQUESTS keep-alive GETs without the intercept header on
 * CONNECTIONS connections. The router process reports process.cpuUsage() around the measured run.
 *   node --import tsx test/bench/agentRouterBench.ts [REQUESTS] [CONNECTIONS]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { silentLogger } from '../../common/src/log/jsonLogger.js';
import { PortRouter } from '../../traffic-agent/src/routing/portRouter.js';

type Message = { port?: number; cpu?: { user: number; system: number } };

/** An HTTP echo server: answers each request with its method and path. */
function echoServer(name: string): Promise<number> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = `${name} ${req.method} ${req.url}\n`;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

async function routerRole(appPort: number, clientPort: number): Promise<void> {
  const router = new PortRouter({
    dialApp: () => net.connect({ host: '127.0.0.1', port: appPort, allowHalfOpen: true }),
    dialClient: () => Promise.resolve(net.connect({ host: '127.0.0.1', port: clientPort, allowHalfOpen: true })),
    logger: silentLogger,
  });
  router.setRules([{ id: 'dev', global: false, headers: [{ name: 'x-telepath-intercept', value: 'dev' }] }]);
  const server = net.createServer({ allowHalfOpen: true }, (s) => router.handle(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  let started = process.cpuUsage();
  process.on('message', (m: string) => {
    if (m === 'start') started = process.cpuUsage();
    if (m === 'stop') process.send!({ cpu: process.cpuUsage(started) } satisfies Message);
    if (m === 'exit') process.exit(0);
  });
  process.send!({ port: (server.address() as net.AddressInfo).port } satisfies Message);
}

function child(args: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const proc = fork(process.argv[1]!, args, { execArgv: ['--import', 'tsx'] });
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.once('message', (m: Message) => resolve({ proc, port: m.port! }));
  });
}

async function load(port: number, requests: number, connections: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: `/r${next}`, agent }, (res) => {
        res.resume();
        res.on('end', resolve);
        res.on('error', reject);
      });
      req.on('error', reject);
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < requests) {
        next++;
        await one();
      }
    }),
  );
  agent.destroy();
  return performance.now() - started;
}

async function main(): Promise<void> {
  const [role, a, b] = process.argv.slice(2);
  if (role === 'app' || role === 'client') {
    const port = await echoServer(role);
    process.send!({ port } satisfies Message);
    return;
  }
  if (role === 'router') return routerRole(Number(a), Number(b));
  const requests = Number(role ?? 20_000);
  const connections = Number(a ?? 8);
  const app = await child(['app']);
  const ws = await child(['client']);
  const router = await child(['router', String(app.port), String(ws.port)]);
  await load(router.port, 2000, connections);
  router.proc.send('start');
  const ms = await load(router.port, requests, connections);
  router.proc.send('stop');
  const [m] = (await once(router.proc, 'message')) as [Message];
  const cpuMs = (m.cpu!.user + m.cpu!.system) / 1000;
  console.log(
    JSON.stringify({
      requests,
      connections,
      wallMs: Math.round(ms),
      requestsPerSecond: Math.round((requests / ms) * 1000),
      routerCpuMs: Math.round(cpuMs),
      routerCpuMsPerRequest: Number((cpuMs / requests).toFixed(4)),
    }),
  );
  router.proc.send('exit');
  app.proc.kill();
  ws.proc.kill();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
