import { test } from 'node:test';
import assert from 'node:assert/strict';
import { healthServer } from './healthServer.js';

test('/healthz answers while the process serves; /readyz follows readiness', async () => {
  let ready = false;
  const server = healthServer(() => ready);
  const port = await server.listen(0, '127.0.0.1');
  try {
    const get = async (path: string): Promise<number> => (await fetch(`http://127.0.0.1:${port}${path}`)).status;
    assert.equal(await get('/healthz'), 200);
    assert.equal(await get('/readyz'), 503);
    ready = true;
    assert.equal(await get('/readyz'), 200);
    assert.equal(await get('/other'), 404);
  } finally {
    await server.close();
  }
});
