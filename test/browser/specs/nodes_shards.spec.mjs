// The nodes and shards page (system admin) on the browser tests' node, which is the
// embedded single node (the harness starts no cluster: a cluster node needs a directory
// database and registered shard databases, which a spec's .toml cannot create; the
// cluster shape is proven over HTTP by internal/app TestClusterNodesShardsMigrationsAPI).
// The page says "single node, embedded storage", lists this node (up, with its
// listeners) and its one shard ("local", with the installation's users), offers no
// migration form; the API answers the same; starting a migration is refused with a
// clear error. A domain admin neither sees the menu entry nor reaches the page or API.
import { run, env, login, expectText, click, assert } from '../lib.mjs';

run(async (b) => {
  const admin = await b.page();
  await login(admin, env.ADMIN_USER, env.ADMIN_PASSWORD);

  await b.step('the menu leads to nodes and shards', async () => {
    await click(admin, 'nav >> text=Nodes and shards');
    await expectText(admin, 'Nodes and shards', { within: 'h1' });
    await expectText(admin, 'Single node, embedded storage.', { within: '#shape' });
    const nodes = admin.locator('#nodes tbody tr');
    assert.equal(await nodes.count(), 1, 'one node');
    assert.match(await nodes.first().innerText(), /\(this node\)/);
    assert.match(await nodes.first().locator('.health').innerText(), /^up$/);
    assert.match(await nodes.first().innerText(), /smtp/);
    const local = admin.locator('#shards tr[data-name="local"]');
    assert.equal(await local.count(), 1, 'the local shard');
    assert.match(await local.innerText(), /active/);
    assert.match(await local.locator('.health').innerText(), /^ok$/);
    assert.equal(await admin.locator('#start-migration').count(), 0, 'no migration form');
    await expectText(admin, 'No migration yet.', { within: '#migrations' });
  });

  await b.step('the API answers the same and refuses a migration', async () => {
    let resp = await admin.request.get('/api/v1/nodes');
    assert.equal(resp.status(), 200);
    const nodes = await resp.json();
    assert.equal(nodes.embedded, true);
    assert.equal(nodes.items.length, 1);
    assert.equal(nodes.items[0].self, true);
    assert.equal(nodes.items[0].up, true);
    resp = await admin.request.get('/api/v1/shards');
    assert.equal(resp.status(), 200);
    const shards = await resp.json();
    assert.deepEqual(shards.items.map((s) => s.name), ['local']);
    assert.ok(shards.items[0].users >= 1, 'the installation has users');
    resp = await admin.request.get('/api/v1/migrations');
    assert.equal(resp.status(), 200);
    assert.deepEqual((await resp.json()).items, []);
    const csrf = await admin.locator('input[name="csrf_token"]').first().inputValue();
    resp = await admin.request.post('/api/v1/migrations', {
      headers: { 'X-CSRF-Token': csrf }, data: { address: env.USER, target: 'local' } });
    assert.equal(resp.status(), 409);
    assert.equal((await resp.json()).error.code, 'not_cluster');
  });

  await b.step('a domain admin has no way in', async () => {
    const da = await b.page();
    await login(da, env.DOMAIN_ADMIN, env.DOMAIN_ADMIN_PASSWORD);
    assert.equal(await da.locator('nav >> text=Nodes and shards').count(), 0);
    b.allowConsoleError(/status of 403/);
    const resp = await da.goto('/console/nodes');
    assert.equal(resp.status(), 403);
    for (const path of ['/api/v1/nodes', '/api/v1/shards', '/api/v1/migrations']) {
      const api = await da.request.get(path);
      assert.equal(api.status(), 403, path);
    }
    await da.close();
  });
});
