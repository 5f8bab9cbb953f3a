/** shared/clients/databricks.ts against the Databricks contract server on 127.0.0.1. */
import { strict as assert } from 'node:assert';
import {
  connectDatabricks,
  databricksAuthFromEndpoint,
  DatabricksError,
  DatabricksStatementError,
  type DatabricksClient,
} from '../../shared/clients/databricks';
import { startDatabricksServer, type DatabricksServer } from '../support/databricksServer';

const fast = { sleep: async () => undefined, baseDelayMs: 1 };

describe('Databricks client', () => {
  let server: DatabricksServer;
  let client: DatabricksClient;

  beforeEach(async () => {
    server = await startDatabricksServer({ lifetimeMs: 30_000 });
    server.addVolume('/Volumes/main/libs/wheels');
    client = connectDatabricks({ host: server.url, auth: { kind: 'pat', token: server.token }, retry: fast, timeoutMs: 2000 });
  });
  afterEach(() => server.stop());

  describe('Files API', () => {
    it('creates a directory and uploads bytes with the bearer token, path segments encoded', async () => {
      await client.createDirectory('/Volumes/main/libs/wheels/ingest');
      await client.uploadFile('/Volumes/main/libs/wheels/ingest/a b.whl', Buffer.from('wheel bytes'));
      assert.equal(server.state.files.get('/Volumes/main/libs/wheels/ingest/a b.whl')?.toString(), 'wheel bytes');
      const put = server.requestsTo('/api/2.0/fs/files', 'PUT')[0];
      assert.equal(put.query.overwrite, 'true');
      assert.equal(put.authorization, 'valid');
      assert.ok(await client.fileExists('/Volumes/main/libs/wheels/ingest/a b.whl'));
      assert.ok(!(await client.fileExists('/Volumes/main/libs/wheels/none.whl')));
    });

    it('without overwrite, an existing file is a conflict quoting ALREADY_EXISTS', async () => {
      await client.uploadFile('/Volumes/main/libs/wheels/x.whl', Buffer.from('1'));
      await assert.rejects(
        client.uploadFile('/Volumes/main/libs/wheels/x.whl', Buffer.from('2'), { overwrite: false }),
        (err: DatabricksError) => {
          assert.equal(err.kind, 'conflict');
          assert.match(err.message, /409 ALREADY_EXISTS/);
          return true;
        },
      );
    });

    it('a missing volume is a 404 that says to create it; 403 names the permission; Databricks is quoted', async () => {
      await assert.rejects(client.uploadFile('/Volumes/main/nope/v/x.whl', Buffer.from('1')), (err: DatabricksError) => {
        assert.equal(err.kind, 'notFound');
        assert.match(err.message, /HTTP 404 NOT_FOUND: The volume of/);
        assert.match(err.message, /CREATE VOLUME/);
        return true;
      });
      server.state.denied.add('files');
      await assert.rejects(client.uploadFile('/Volumes/main/libs/wheels/x.whl', Buffer.from('1')), (err: DatabricksError) => {
        assert.equal(err.kind, 'forbidden');
        assert.equal(err.errorCode, 'PERMISSION_DENIED');
        assert.match(err.message, /WRITE VOLUME/);
        assert.ok(!err.message.includes(server.token));
        return true;
      });
    });

    it('a bad token is 401 UNAUTHENTICATED with what to do; the token is in no message', async () => {
      const bad = connectDatabricks({ host: server.url, auth: { kind: 'pat', token: 'dapi-wrong-secret' }, retry: fast });
      await assert.rejects(bad.createDirectory('/Volumes/main/libs/wheels'), (err: DatabricksError) => {
        assert.equal(err.kind, 'unauthorized');
        assert.match(err.message, /401 UNAUTHENTICATED/);
        assert.match(err.message, /personal access token/);
        assert.ok(!err.message.includes('dapi-wrong-secret'));
        return true;
      });
    });

    it('429 is retried after Retry-After; 503 too; a request with no answer times out naming the path', async () => {
      server.fail({ path: '/api/2.0/fs/files', status: 429, headers: { 'retry-after': '0' } });
      server.fail({ path: '/api/2.0/fs/files', status: 503 });
      await client.uploadFile('/Volumes/main/libs/wheels/x.whl', Buffer.from('1'));
      assert.equal(server.requestsTo('/api/2.0/fs/files', 'PUT').length, 3);
      server.fail({ path: '/api/2.0/fs/directories', hang: true, times: 10 });
      const slow = connectDatabricks({
        host: server.url,
        auth: { kind: 'pat', token: server.token },
        retry: { ...fast, maxAttempts: 2 },
        timeoutMs: 200,
      });
      await assert.rejects(slow.createDirectory('/Volumes/main/libs/wheels/d'), (err: DatabricksError) => {
        assert.equal(err.kind, 'timeout');
        assert.match(err.message, /PUT \/api\/2\.0\/fs\/directories\/Volumes\/main\/libs\/wheels\/d/);
        assert.match(err.message, /gave up after 2 attempts/);
        return true;
      });
    });

    it('429 that never ends gives up within the bounds and says so', async () => {
      server.fail({ path: '/api/2.0/fs/files', status: 429, times: 10 });
      await assert.rejects(client.uploadFile('/Volumes/main/libs/wheels/x.whl', Buffer.from('1')), (err: DatabricksError) => {
        assert.equal(err.kind, 'throttled');
        assert.match(err.message, /REQUEST_LIMIT_EXCEEDED.*gave up after 4 attempts/);
        return true;
      });
    });
  });

  describe('libraries and clusters', () => {
    it('install → PENDING → INSTALLING → INSTALLED; a second install of the same library changes nothing', async () => {
      server.addCluster('c-1');
      await client.uploadFile('/Volumes/main/libs/wheels/a.whl', Buffer.from('1'));
      await client.installLibraries('c-1', [{ whl: '/Volumes/main/libs/wheels/a.whl' }]);
      const seen = [];
      for (let i = 0; i < 3; i++) seen.push((await client.libraryStatuses('c-1'))[0].status);
      assert.deepEqual(seen, ['INSTALLING', 'INSTALLED', 'INSTALLED']);
      await client.installLibraries('c-1', [{ whl: '/Volumes/main/libs/wheels/a.whl' }]);
      assert.equal((await client.libraryStatuses('c-1'))[0].status, 'INSTALLED');
      assert.equal(server.state.clusters.get('c-1')!.libraries.length, 1);
    });

    it('a failing install reports FAILED with its messages; an unknown cluster quotes INVALID_PARAMETER_VALUE', async () => {
      server.addCluster('c-2', { failInstall: { match: /bad/, message: 'ERROR: No matching distribution found for pandas==99' } });
      await client.uploadFile('/Volumes/main/libs/wheels/bad.whl', Buffer.from('1'));
      await client.installLibraries('c-2', [{ whl: '/Volumes/main/libs/wheels/bad.whl' }]);
      await client.libraryStatuses('c-2');
      const [s] = await client.libraryStatuses('c-2');
      assert.equal(s.status, 'FAILED');
      assert.deepEqual(s.messages, ['ERROR: No matching distribution found for pandas==99']);
      await assert.rejects(
        client.installLibraries('nope', [{ whl: '/x.whl' }]),
        /400 INVALID_PARAMETER_VALUE: Cluster nope does not exist/,
      );
    });

    it('restart: RESTARTING then RUNNING; 403 on restart names CAN RESTART', async () => {
      server.addCluster('c-3', { restartReads: 1 });
      assert.equal((await client.cluster('c-3')).state, 'RUNNING');
      await client.restartCluster('c-3');
      assert.equal((await client.cluster('c-3')).state, 'RESTARTING');
      assert.equal((await client.cluster('c-3')).state, 'RUNNING');
      server.state.denied.add('restart');
      await assert.rejects(
        client.restartCluster('c-3'),
        (err: DatabricksError) => err.kind === 'forbidden' && /CAN RESTART/.test(err.message) && /PERMISSION_DENIED/.test(err.message),
      );
    });

    it('a restart (a create) is not repeated after a 500, but is after a 503', async () => {
      server.addCluster('c-4');
      server.fail({ path: '/clusters/restart', status: 500 });
      await assert.rejects(client.restartCluster('c-4'), /HTTP 500/);
      assert.equal(server.requestsTo('/clusters/restart').length, 1);
      server.fail({ path: '/clusters/restart', status: 503 });
      await client.restartCluster('c-4');
      assert.equal(server.requestsTo('/clusters/restart').length, 3);
    });
  });

  describe('SQL statements', () => {
    it('runStatement polls PENDING → RUNNING → SUCCEEDED and returns columns and rows; parameters are sent named', async () => {
      server.state.sql = (sql, params) => ({
        columns: [{ name: 'n', type: 'INT' }],
        rows: [[String(params.length)], [sql.length > 0 ? '1' : '0']],
        polls: 2,
      });
      const r = await client.runStatement(
        { warehouseId: 'wh-1', statement: 'SELECT :a AS n', parameters: [{ name: 'a', value: '1', type: 'INT' }] },
        { pollMs: 1 },
      );
      assert.equal(r.state, 'SUCCEEDED');
      assert.deepEqual(r.columns, [{ name: 'n', typeName: 'INT' }]);
      assert.deepEqual(r.rows, [['1'], ['1']]);
      assert.equal(r.totalRowCount, 2);
      const post = server.requestsTo('/api/2.0/sql/statements', 'POST')[0];
      assert.deepEqual((post.body as { parameters: unknown }).parameters, [{ name: 'a', value: '1', type: 'INT' }]);
      assert.equal(server.requestsTo('/api/2.0/sql/statements/', 'GET').length, 2);
    });

    it('a FAILED statement answers HTTP 200 and becomes DatabricksStatementError quoting error_code and message', async () => {
      server.state.sql = () => ({
        error: { error_code: 'TABLE_OR_VIEW_NOT_FOUND', message: '[TABLE_OR_VIEW_NOT_FOUND] The table or view `pro`.`x` cannot be found.' },
        polls: 1,
      });
      const first = await client.executeStatement({ warehouseId: 'wh-1', statement: 'SELECT * FROM pro.x', waitTimeout: '0s' });
      assert.equal(first.state, 'PENDING');
      assert.equal(server.requestsTo('/api/2.0/sql/statements', 'POST')[0].status, 200);
      await assert.rejects(
        client.runStatement({ warehouseId: 'wh-1', statement: 'SELECT * FROM pro.x' }, { pollMs: 1 }),
        (err: DatabricksStatementError) => {
          assert.ok(err instanceof DatabricksStatementError);
          assert.equal(err.errorCode, 'TABLE_OR_VIEW_NOT_FOUND');
          assert.match(
            err.message,
            /failed \(TABLE_OR_VIEW_NOT_FOUND: \[TABLE_OR_VIEW_NOT_FOUND\] The table or view `pro`\.`x` cannot be found\.\): SELECT \* FROM pro\.x/,
          );
          return true;
        },
      );
    });

    it('an unbound :parameter fails as Databricks does; a statement still running at the timeout is cancelled', async () => {
      await assert.rejects(
        client.runStatement({ warehouseId: 'wh-1', statement: "SELECT :missing, ':not_a_param'" }),
        /UNBOUND_SQL_PARAMETER.*missing/,
      );
      server.state.sql = () => ({ rows: [], polls: 1000 });
      await assert.rejects(
        client.runStatement({ warehouseId: 'wh-1', statement: 'SELECT 1' }, { timeoutMs: 20, pollMs: 5 }),
        /still (PENDING|RUNNING).*cancelled/,
      );
      const id = [...server.state.statements.values()].pop()!;
      assert.equal(id.state, 'CANCELED');
      assert.equal(server.requestsTo('/cancel', 'POST').length, 1);
    });

    it('a wrong wait_timeout and an unknown warehouse are refused as Databricks does', async () => {
      await assert.rejects(
        client.executeStatement({ warehouseId: 'wh-1', statement: 'SELECT 1', waitTimeout: '3s' }),
        /400 INVALID_PARAMETER_VALUE: wait_timeout/,
      );
      await assert.rejects(
        client.executeStatement({ warehouseId: 'nope', statement: 'SELECT 1' }),
        (err: DatabricksError) =>
          err.kind === 'notFound' && /RESOURCE_DOES_NOT_EXIST/.test(err.message) && /SQL warehouse nope/.test(err.message),
      );
    });
  });

  describe('Azure AD', () => {
    it('a service principal gets a token for the Databricks resource from the configured authority host', async () => {
      server.addServicePrincipal('sp-1', { tenantId: 'tenant-1', secret: 'sp-secret-value' });
      const { host, auth } = databricksAuthFromEndpoint(
        {
          id: 'conn',
          url: `${server.url}/`,
          scheme: 'UsernamePassword',
          parameters: { username: 'sp-1', password: 'sp-secret-value', tenantId: 'tenant-1' },
          data: { authorityHost: server.authorityHost },
        },
        { input: 'databricksConnection' },
      );
      const sp = connectDatabricks({ host, auth, retry: fast });
      await sp.createDirectory('/Volumes/main/libs/wheels/x');
      await sp.createDirectory('/Volumes/main/libs/wheels/y');
      assert.equal(server.requestsTo('/oauth2/v2.0/token').length, 1, 'the token is reused');
      const form = server.requestsTo('/oauth2/v2.0/token')[0].body as Record<string, string>;
      assert.equal(form.scope, '2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default');
    });

    it('a wrong secret quotes Azure AD and names what to check, without the secret', async () => {
      server.addServicePrincipal('sp-1', { tenantId: 'tenant-1', secret: 'right' });
      const sp = connectDatabricks({
        host: server.url,
        auth: {
          kind: 'servicePrincipal',
          tenantId: 'tenant-1',
          clientId: 'sp-1',
          clientSecret: 'wrong-secret-xyz',
          authorityHost: server.authorityHost,
        },
        retry: fast,
      });
      await assert.rejects(
        sp.createDirectory('/Volumes/main/libs/wheels/x'),
        (err: Error) =>
          /AADSTS7000215/.test(err.message) &&
          /tenant, client id and secret/.test(err.message) &&
          !err.message.includes('wrong-secret-xyz'),
      );
    });

    it('workload identity federation: OIDC token with the job token, exchanged as a client assertion', async () => {
      server.addServicePrincipal('app-2', { tenantId: 't-2', federated: true });
      server.state.jobTokens.add('job-token-1');
      const { auth } = databricksAuthFromEndpoint(
        { id: 'arm-conn-id', scheme: 'WorkloadIdentityFederation', parameters: { serviceprincipalid: 'app-2', tenantid: 't-2' }, data: {} },
        {
          input: 'databricksAzureSubscription',
          workspaceUrl: server.url,
          oidcRequestUri: server.oidcRequestUri,
          jobToken: 'job-token-1',
          authorityHost: server.authorityHost,
        },
      );
      await connectDatabricks({ host: server.url, auth, retry: fast }).createDirectory('/Volumes/main/libs/wheels/x');
      const oidc = server.requestsTo('/oidc')[0];
      assert.equal(oidc.query.serviceConnectionId, 'arm-conn-id');
      assert.equal(oidc.query['api-version'], '7.1');
      const form = server.requestsTo('/oauth2/v2.0/token')[0].body as Record<string, string>;
      assert.equal(form.client_assertion_type, 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      assert.ok(form.client_assertion.startsWith('oidc-'));
      assert.ok(
        !server.requestsTo('/api/').some((r) => String(r.headers.authorization).includes('job-token-1')),
        'the job token never goes to Databricks',
      );
    });

    it('connection errors name the input and the fix', () => {
      assert.throws(
        () =>
          databricksAuthFromEndpoint(
            { id: 'x', url: 'ftp://w', scheme: 'Token', parameters: { apitoken: 't' }, data: {} },
            { input: 'databricksConnection' },
          ),
        /Input 'databricksConnection': 'ftp:\/\/w' is not an https URL/,
      );
      assert.throws(
        () =>
          databricksAuthFromEndpoint(
            { id: 'x', url: 'https://adb-1.azuredatabricks.net', scheme: 'Token', parameters: {}, data: {} },
            { input: 'databricksConnection' },
          ),
        /has no token/,
      );
      assert.throws(
        () =>
          databricksAuthFromEndpoint(
            { id: 'x', scheme: 'WorkloadIdentityFederation', parameters: { serviceprincipalid: 'a', tenantid: 'b' }, data: {} },
            { input: 'databricksAzureSubscription' },
          ),
        /Input 'databricksWorkspaceUrl'/,
      );
      const ok = databricksAuthFromEndpoint(
        { id: 'x', url: 'https://adb-1.azuredatabricks.net/', scheme: 'Token', parameters: { apitoken: 'dapi1' }, data: {} },
        { input: 'databricksConnection' },
      );
      assert.deepEqual(ok, { host: 'https://adb-1.azuredatabricks.net', auth: { kind: 'pat', token: 'dapi1' } });
    });
  });
});
