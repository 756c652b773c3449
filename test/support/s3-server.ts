// A real S3 server for tests: a throw-away single-node Ceph cluster (one mon, one memstore OSD,
// radosgw with the beast frontend on 127.0.0.1) in a private temp dir, `auth = none`.
//
// Layout under the temp dir (kept short: unix socket paths must fit in 107 bytes):
//   ceph.conf        every path below points inside the dir; nothing in /etc, /var/lib, /var/log
//   monmap           built with `monmaptool --addv` (with only `mon host` the mon probes forever)
//   mon/ osd0/ rgw/  daemon data (the OSD keeps object data in RAM: memstore)
//   log/ run/ crash/ logs (NAME.out is a daemon's stdout+stderr), admin sockets, crash dumps
//   .keel-s3         marker: global teardown only removes dirs that carry it
//
// Each daemon runs in the foreground as a child of this node process (test/support/e2e/
// processes.ts): node reaps it, so no zombie can look alive, and the kernel SIGKILLs it if node
// dies (parent-death signal). The PIDs are also recorded for jest's global teardown
// (stale-daemons.ts), which kills what a crashed test file left. stop() ends radosgw, the OSD,
// then the mon (the OSD acks its shutdown to the still-running mon), checks /proc/PID/stat
// that each is gone, and removes the dir.
//
// The settings and the reasons for them are in S3-TESTING.md's pitfalls (numbers below).
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from './e2e/ports.js';
import { processRunning, sleep, startProcess, type ManagedProcess } from './e2e/processes.js';
import { CommandError, run, tail } from './e2e/run.js';
import { ensureTools, toolPath, type ToolName } from './e2e/tools.js';
import { forgetDaemons, recordDaemons } from './stale-daemons.js';

export interface S3Server {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** mon, osd, radosgw, in start order. */
  readonly pids: number[];
  /** The cluster's private dir (logs in DIR/log). Removed by stop(). */
  readonly dir: string;
  createBucket(name: string): Promise<void>;
  /**
   * radosgw's log (DIR/log/client.rgw.log), flushed first through the admin socket: the
   * daemon writes its log from a thread of its own, so a request just answered may not be in
   * the file yet. At the default level the beast frontend logs one access line per request.
   */
  rgwLog(): Promise<string>;
  /** Resident memory of the three daemons together, in bytes (VmRSS). */
  rssBytes(): Promise<number>;
  /** Idempotent: stops the daemons in reverse order and removes the dir. */
  stop(): Promise<void>;
}

export interface StartS3Options {
  /**
   * Capacity of the memstore OSD (its data lives in RAM, about twice the live data). A full
   * memstore does not fail, every request hangs (pitfall 9): size it above the test's data.
   */
  memoryBytes?: number;
  /**
   * How long radosgw's beast frontend waits for a read or write on a socket to progress
   * before it drops the connection (its request_timeout_ms; default 65 s): a test of a reader
   * that stalls longer than the object store waits sets it short.
   */
  requestTimeoutMs?: number;
}

interface Settings {
  memoryBytes: number;
  requestTimeoutMs: number | undefined;
}

const TOOLS: readonly ToolName[] = ['ceph-mon', 'ceph-osd', 'monmaptool', 'radosgw', 'radosgw-admin', 'ceph'];
/** 4 GiB: room for a 2 GiB blob plus what a suite leaves around; RAM is used only as data is written. */
const DEFAULT_MEMORY_BYTES = 4 * 1024 ** 3;
const REGION = 'us-east-1';
const START_ATTEMPTS = 5;
const STEP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;
/** Log text of a daemon that lost its port to another process between probe and bind. */
const BIND_FAILURE = /Address already in use|unable to bind|failed initializing frontend/i;

interface Ports {
  mon: number;
  rgw: number;
}

/** A unix socket path must stay under 107 bytes (pitfall 3): no admin sockets if dir is long. */
function hasAdminSockets(dir: string): boolean {
  return dir.length <= 80;
}

function cephConf(dir: string, fsid: string, ports: Ports, settings: Settings): string {
  const asok = hasAdminSockets(dir) ? `${dir}/run/$name.asok` : '';
  return `[global]
fsid = ${fsid}
mon host = [v2:127.0.0.1:${ports.mon}]
public addr = 127.0.0.1
# or the OSD binds 0.0.0.0 (pitfall 7)
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
# a port lost to another process must fail fast so the harness retries on a new one
ms bind retry count = 1
ms bind retry delay = 1
# no cephx, no keyrings; radosgw's default "secure" mon client mode needs cephx (pitfall 2)
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
# everything inside the dir (pitfall 3)
run dir = ${dir}/run
admin socket = ${asok}
pid file = ${dir}/run/$name.pid
log file = ${dir}/log/$name.log
mon cluster log file = default=${dir}/log/$channel.log cluster=${dir}/log/cluster.log
crash dir = ${dir}/crash
# one OSD: size-1 pools, few PGs (pitfall 5)
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd crush chooseleaf type = 0
# shared disks are often full-ish: never warn or shut the mon down for it (pitfall 4)
mon data avail warn = 1
mon data avail crit = 0
# fast paxos, or radosgw takes 8 s to start and first writes 1-2 s each (pitfall 6)
paxos propose interval = 0.05
paxos min wait = 0.01
osd objectstore = memstore
memstore device bytes = ${settings.memoryBytes}
osd fast shutdown = true
[mon.a]
mon data = ${dir}/mon
[osd.0]
osd data = ${dir}/osd0
[client.rgw]
# without tcp_nodelay every GET takes ~48 ms (pitfall 7)
rgw frontends = beast endpoint=127.0.0.1:${ports.rgw} tcp_nodelay=1${settings.requestTimeoutMs === undefined ? '' : ` request_timeout_ms=${settings.requestTimeoutMs}`}
rgw data = ${dir}/rgw
rgw thread pool size = 64
# deleted data is freed by RGW's GC only, after 2 h by default; memstore keeps it in RAM
rgw gc obj min wait = 10
rgw gc processor period = 10
`;
}

export { processRunning };

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kib === undefined ? 0 : Number(kib) * 1024;
}

async function logsTail(dir: string): Promise<string> {
  const parts: string[] = [];
  for (const name of ['mon', 'osd', 'rgw']) {
    const text = await readFile(join(dir, 'log', `${name}.out`), 'utf8').catch(() => '');
    const log = await readFile(join(dir, 'log', name === 'rgw' ? 'client.rgw.log' : name === 'mon' ? 'mon.a.log' : 'osd.0.log'), 'utf8').catch(() => '');
    parts.push(`--- ${name} ---\n${tail(text + log, 1500)}`);
  }
  return parts.join('\n');
}

class StartFailure extends Error {
  constructor(message: string, readonly bindFailure: boolean) {
    super(message);
  }
}

function s3Client(endpoint: string, accessKeyId: string, secretAccessKey: string): S3Client {
  return new S3Client({
    endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    // RGW 16.2 refuses the SDK's default aws-chunked checksummed bodies (pitfall 10)
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
}

interface Attempt {
  procs: ManagedProcess[];
  endpoint: string;
  client: S3Client;
}

/** One try at bringing the cluster up on the given ports; leaves `procs` for the caller to stop. */
async function bringUp(dir: string, ports: Ports, settings: Settings, keys: { access: string; secret: string }, procs: ManagedProcess[]): Promise<Attempt> {
  const conf = join(dir, 'ceph.conf');
  const fsid = randomUUID();
  await writeFile(conf, cephConf(dir, fsid, ports, settings));
  const step = async (tool: ToolName, args: string[]): Promise<string> =>
    (await run(toolPath(tool), ['-c', conf, ...args], { timeoutMs: STEP_TIMEOUT_MS })).stdout.toString('utf8');
  const daemon = async (name: string, tool: ToolName, args: string[], ready: () => Promise<boolean>): Promise<ManagedProcess> => {
    const proc = await startProcess({
      name: `s3 ${name}`,
      file: toolPath(tool),
      args: ['-c', conf, ...args, '-f'],
      logFile: join(dir, 'log', `${name}.out`),
      ready,
      readyTimeoutMs: STEP_TIMEOUT_MS,
      stopTimeoutMs: STOP_TIMEOUT_MS,
    });
    procs.push(proc);
    await recordDaemons(dir, conf, procs.map((p) => p.pid));
    return proc;
  };

  // pitfall 1: the monmap names the mon's v2 address
  await run(toolPath('monmaptool'), ['--create', '--clobber', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${ports.mon}]`, join(dir, 'monmap')]);
  await step('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')]);
  await daemon('mon', 'ceph-mon', ['-i', 'a'], async () => true);
  // Answers once the mon has formed its one-member quorum; --connect-timeout so a mon that
  // cannot bind does not hang us (pitfall 1).
  const osdUuid = randomUUID();
  const osdId = (await step('ceph', ['--connect-timeout', '15', 'osd', 'new', osdUuid])).trim();
  if (osdId !== '0') throw new Error(`ceph osd new answered "${osdId}", expected 0`);
  await step('ceph-osd', ['-i', '0', '--mkfs', '--osd-uuid', osdUuid]);
  await daemon('osd', 'ceph-osd', ['-i', '0'], async () => true);
  // radosgw waits for the OSD by itself (its pools' PGs become active once osd.0 boots), so
  // the OSD needs no polling of its own: radosgw answering proves the whole chain.
  const endpoint = `http://127.0.0.1:${ports.rgw}`;
  const rgw = await daemon('rgw', 'radosgw', ['-n', 'client.rgw'], async () => {
    const res = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2_000) });
    return (await res.text()).includes('ListAllMyBucketsResult');
  });
  await step('radosgw-admin', ['user', 'create', '--uid=keel-test', '--display-name=keel test', `--access-key=${keys.access}`, `--secret-key=${keys.secret}`]);
  // Our keys are random: a signed request that succeeds proves the port is our radosgw, not
  // another test's server that took it first.
  const client = s3Client(endpoint, keys.access, keys.secret);
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    if (!rgw.isRunning()) throw new Error('radosgw exited after it answered');
    try {
      await client.send(new ListBucketsCommand({}));
      return { procs, endpoint, client };
    } catch (e) {
      if (Date.now() > deadline) {
        client.destroy();
        throw new Error(`radosgw at ${endpoint} did not accept the new user's keys: ${e instanceof Error ? e.name : String(e)}`);
      }
      await sleep(100);
    }
  }
}

async function stopAll(procs: readonly ManagedProcess[]): Promise<string[]> {
  const failures: string[] = [];
  for (const proc of [...procs].reverse()) {
    try {
      await proc.stop();
      if (await processRunning(proc.pid)) failures.push(`${proc.name} (pid ${proc.pid}) is still running after stop`);
    } catch (e) {
      failures.push(e instanceof Error ? e.message : String(e));
    }
  }
  return failures;
}

/**
 * Starts a fresh cluster and resolves once its S3 endpoint accepts signed requests from a new
 * user with random keys. Installs the Ceph packages first when they are missing (as root), or
 * throws naming what is missing.
 */
export async function startS3(options: StartS3Options = {}): Promise<S3Server> {
  await ensureTools(TOOLS);
  const settings: Settings = { memoryBytes: options.memoryBytes ?? DEFAULT_MEMORY_BYTES, requestTimeoutMs: options.requestTimeoutMs };
  const keys = { access: `KEEL${randomBytes(8).toString('hex').toUpperCase()}`, secret: randomBytes(24).toString('base64url') };
  for (let attempt = 1; ; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'keel-s3-'));
    await Promise.all(['mon', 'osd0', 'rgw', 'log', 'run', 'crash'].map((d) => mkdir(join(dir, d))));
    await writeFile(join(dir, '.keel-s3'), '');
    const procs: ManagedProcess[] = [];
    let up: Attempt;
    try {
      const mon = await freePort();
      let rgw = await freePort();
      while (rgw === mon) rgw = await freePort();
      up = await bringUp(dir, { mon, rgw }, settings, keys, procs);
    } catch (e) {
      const logs = await logsTail(dir);
      const failure = new StartFailure(
        `startS3: the Ceph cluster in ${dir} did not start: ${e instanceof CommandError ? e.message : e instanceof Error ? e.message : String(e)}\n${logs}`,
        BIND_FAILURE.test(logs) || (e instanceof Error && BIND_FAILURE.test(e.message)),
      );
      const stopFailures = await stopAll(procs);
      await forgetDaemons(dir);
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      if (stopFailures.length > 0) throw new Error(`${failure.message}\nand stopping it failed:\n${stopFailures.join('\n')}`);
      if (failure.bindFailure && attempt < START_ATTEMPTS) continue;
      throw failure;
    }
    const { endpoint, client } = up;
    let stopping: Promise<void> | undefined;
    return {
      endpoint,
      region: REGION,
      accessKeyId: keys.access,
      secretAccessKey: keys.secret,
      pids: procs.map((p) => p.pid),
      dir,
      async createBucket(name: string) {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      },
      async rgwLog() {
        if (!hasAdminSockets(dir)) throw new Error(`startS3: ${dir} is too long for an admin socket; radosgw's log cannot be flushed`);
        await run(toolPath('ceph'), ['--admin-daemon', join(dir, 'run', 'client.rgw.asok'), 'log', 'flush'], { timeoutMs: STEP_TIMEOUT_MS });
        return readFile(join(dir, 'log', 'client.rgw.log'), 'utf8');
      },
      async rssBytes() {
        let total = 0;
        for (const p of procs) total += await rssOf(p.pid);
        return total;
      },
      stop() {
        stopping ??= (async () => {
          client.destroy();
          const failures = await stopAll(procs);
          if (failures.length > 0) throw new Error(`startS3: stopping the cluster in ${dir} failed:\n${failures.join('\n')}`);
          await forgetDaemons(dir);
          await rm(dir, { recursive: true, force: true, maxRetries: 3 });
        })();
        return stopping;
      },
    };
  }
}
