/**
 * deploy/kubernetes/ against what Keel and its image really read: the files parse, the port,
 * probe paths, mount paths, user and `KEEL_*` names match the image (deploy/Dockerfile) and the
 * configuration schema, the ConfigMap parses with Keel's own parser, and Keel starts with the
 * service links Kubernetes would give its pods for the Service here. No cluster is involved.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parseConfigText } from '../../src/config/load.js';
import { GC, KEEL, run, stopAll } from '../support/cli-process.js';
import { imageFacts, isUnder, KEEL_NAMES, keelNamesIn, storagePaths, yamlDocuments } from './manifests.js';

const DIR = 'deploy/kubernetes';

interface EnvVar { name: string; value?: string }
interface Probe { httpGet?: { path: string; port: number | string } }
interface Mount { name: string; mountPath: string; readOnly?: boolean }
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
  resources?: { requests?: { cpu?: string; memory?: string }; limits?: { memory?: string } };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  volumeMounts?: Mount[];
}
interface Volume { name: string; persistentVolumeClaim?: { claimName: string }; configMap?: { name: string }; emptyDir?: object }
interface PodSpec {
  enableServiceLinks?: boolean;
  automountServiceAccountToken?: boolean;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number; fsGroup?: number };
  affinity?: { podAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: Array<{ topologyKey: string; labelSelector: { matchLabels: Record<string, string> } }> } };
  containers: Container[];
  volumes?: Volume[];
}
interface PodTemplate { metadata: { labels: Record<string, string> }; spec: PodSpec }
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    replicas?: number;
    strategy?: { type: string };
    selector?: { matchLabels: Record<string, string> } | Record<string, string>;
    template?: PodTemplate;
    ports?: Array<{ name?: string; port: number; targetPort: number | string; protocol?: string }>;
    accessModes?: string[];
    schedule?: string;
    concurrencyPolicy?: string;
    jobTemplate?: { spec: { template: PodTemplate } };
  };
}
interface Kustomization { resources: string[]; images?: Array<{ name: string; newName?: string; newTag?: string }> }

const image = imageFacts();
let kustomization: Kustomization;
let manifests: Manifest[];

function one(kind: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind} in ${DIR}, found ${found.length}`);
  return found[0] as Manifest;
}
function defined<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is missing`);
  return value;
}
const deployment = (): Manifest => one('Deployment');
const server = (): PodTemplate => defined(deployment().spec?.template, 'Deployment template');
const gcPod = (): PodTemplate => defined(one('CronJob').spec?.jobTemplate?.spec.template, 'CronJob job template');
const only = <T>(items: T[] | undefined, what: string): T => {
  if (items?.length !== 1) throw new Error(`expected one ${what}, found ${items?.length ?? 0}`);
  return items[0] as T;
};
const serverContainer = (): Container => only(server().spec.containers, 'server container');
const gcContainer = (): Container => only(gcPod().spec.containers, 'GC container');
const envOf = (c: Container): Record<string, string> => Object.fromEntries((c.env ?? []).map((e) => [e.name, defined(e.value, `value of ${e.name}`)]));
const mountOf = (c: Container, path: string): Mount => defined((c.volumeMounts ?? []).find((m) => m.mountPath === path), `${c.name}: a mount at ${path}`);
const volumeOf = (pod: PodSpec, name: string): Volume => defined((pod.volumes ?? []).find((v) => v.name === name), `volume ${name}`);

/** The configuration the ConfigMap holds, as Keel parses it in the server's container. */
function serverConfig(): ReturnType<typeof parseConfigText> {
  const container = serverContainer();
  const file = envOf(container).KEEL_CONFIG ?? image.config;
  const dir = file.slice(0, file.lastIndexOf('/'));
  const mount = mountOf(container, dir);
  const map = defined(volumeOf(server().spec, mount.name).configMap, `configMap volume at ${dir}`);
  const configMap = one('ConfigMap');
  expect(configMap.metadata.name).toBe(map.name);
  const text = defined(configMap.data?.[file.slice(dir.length + 1)], `ConfigMap key ${file.slice(dir.length + 1)}`);
  return parseConfigText(text, `${DIR}/configmap.yaml`, dir, envOf(container));
}

/** A container port by number or by name. */
function portNumber(c: Container, port: number | string): number {
  if (typeof port === 'number') return port;
  return defined((c.ports ?? []).find((p) => p.name === port), `${c.name}: port named ${port}`).containerPort;
}

/**
 * The service links kubelet gives every pod of the namespace for `service` (pkg/kubelet/envvars):
 * <NAME>_SERVICE_HOST, <NAME>_SERVICE_PORT[_<PORT NAME>], and the Docker-link style <NAME>_PORT...
 */
function serviceLinks(service: Manifest, clusterIp: string): Record<string, string> {
  const name = service.metadata.name.toUpperCase().replace(/-/g, '_');
  const ports = defined(service.spec?.ports, 'Service ports');
  const env: Record<string, string> = { [`${name}_SERVICE_HOST`]: clusterIp };
  ports.forEach((p, i) => {
    const proto = (p.protocol ?? 'TCP').toLowerCase();
    const url = `${proto}://${clusterIp}:${p.port}`;
    if (i === 0) Object.assign(env, { [`${name}_SERVICE_PORT`]: String(p.port), [`${name}_PORT`]: url });
    if (p.name) env[`${name}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
    const prefix = `${name}_PORT_${p.port}_${proto.toUpperCase()}`;
    Object.assign(env, { [prefix]: url, [`${prefix}_PROTO`]: proto, [`${prefix}_PORT`]: String(p.port), [`${prefix}_ADDR`]: clusterIp });
  });
  return env;
}

let scratch: string;

beforeAll(async () => {
  kustomization = yamlDocuments(`${DIR}/kustomization.yaml`)[0] as Kustomization;
  manifests = kustomization.resources.flatMap((file) => yamlDocuments(`${DIR}/${file}`) as Manifest[]);
  scratch = await mkdtemp(join(tmpdir(), 'keel-k8s-'));
});
afterAll(async () => {
  await stopAll();
  await rm(scratch, { recursive: true, force: true });
});

describe('deploy/kubernetes', () => {
  test('the kustomization lists every manifest of the folder, each parses, and the image it sets is the one the pods use', async () => {
    const files = (await readdir(DIR)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    expect(manifests.map((m) => m.kind).sort()).toEqual(['ConfigMap', 'CronJob', 'Deployment', 'PersistentVolumeClaim', 'Service']);
    for (const m of manifests) expect([typeof m.apiVersion, typeof m.metadata.name]).toEqual(['string', 'string']);
    const names = (kustomization.images ?? []).map((i) => i.name);
    expect([serverContainer().image, gcContainer().image]).toEqual([only(names, 'kustomization image'), only(names, 'kustomization image')]);
  });

  test('the ConfigMap parses with Keel\'s own parser, with no warning, listening on the port the image exposes', () => {
    const { config, warnings } = serverConfig();
    expect(warnings).toEqual([]);
    expect(config.listen.port).toBe(image.port);
    const container = serverContainer();
    expect(envOf(container).KEEL_CONFIG).toBe(image.config);
    expect(only(container.ports, 'container port').containerPort).toBe(config.listen.port);
  });

  test('every KEEL_ name in the manifests is one Keel reads', () => {
    const names = keelNamesIn(manifests);
    expect(names).toContain('KEEL_CONFIG');
    expect(names.filter((n) => !KEEL_NAMES.has(n))).toEqual([]);
    // The GC reads the same variables: its environment parses too.
    expect(parseConfigText('', 'gc', '/', envOf(gcContainer())).warnings).toEqual([]);
  });

  test('the server: one replica, Recreate, liveness on /health and readiness on /ready at Keel\'s port, the Service in front of it', () => {
    const { config } = serverConfig();
    const spec = defined(deployment().spec, 'Deployment spec');
    expect([spec.replicas, spec.strategy?.type]).toEqual([1, 'Recreate']);
    const container = serverContainer();
    const live = defined(container.livenessProbe?.httpGet, 'liveness httpGet');
    const ready = defined(container.readinessProbe?.httpGet, 'readiness httpGet');
    expect([live.path, portNumber(container, live.port)]).toEqual(['/health', config.listen.port]);
    expect([ready.path, portNumber(container, ready.port)]).toEqual(['/ready', config.listen.port]);
    const service = one('Service');
    const port = only(service.spec?.ports, 'Service port');
    expect(portNumber(container, port.targetPort)).toBe(config.listen.port);
    // The selectors pick the server's pods.
    expect(server().metadata.labels).toMatchObject(service.spec?.selector as Record<string, string>);
    expect(server().metadata.labels).toMatchObject((spec.selector as { matchLabels: Record<string, string> }).matchLabels);
  });

  test('storage: every path Keel writes is on the claimed volume, mounted where the image keeps it; /tmp is an emptyDir', () => {
    const { config } = serverConfig();
    for (const template of [server(), gcPod()]) {
      const container = only(template.spec.containers, 'container');
      const data = mountOf(container, image.volume);
      expect(data.readOnly).not.toBe(true);
      const claim = defined(volumeOf(template.spec, data.name).persistentVolumeClaim, `${container.name}: PVC at ${image.volume}`);
      expect(claim.claimName).toBe(one('PersistentVolumeClaim').metadata.name);
      expect(volumeOf(template.spec, mountOf(container, '/tmp').name).emptyDir).toBeDefined();
      expect(mountOf(container, image.config.slice(0, image.config.lastIndexOf('/'))).readOnly).toBe(true);
    }
    for (const [key, path] of Object.entries(storagePaths(config))) expect([key, isUnder(path, image.volume)]).toEqual([key, true]);
    expect(one('PersistentVolumeClaim').spec?.accessModes).toEqual(['ReadWriteOnce']);
  });

  test("both pods: the image's non-root user, a read-only root file system, no privilege, no service links, resource requests", () => {
    for (const template of [server(), gcPod()]) {
      const pod = template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: image.uid, runAsGroup: image.gid, fsGroup: image.gid });
      expect(image.uid).toBeGreaterThan(0);
      expect([pod.enableServiceLinks, pod.automountServiceAccountToken]).toEqual([false, false]);
      const container = only(pod.containers, 'container');
      expect(container.securityContext).toEqual({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(container.resources?.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
      expect(container.resources?.limits?.memory).toEqual(expect.any(String));
    }
  });

  test("the GC CronJob: the image's scripts/gc on the server's configuration, never two at once, on the node of the Keel pod", () => {
    const cron = one('CronJob');
    expect(cron.spec?.schedule).toMatch(/^\S+( \S+){4}$/);
    expect(cron.spec?.concurrencyPolicy).toBe('Forbid');
    const container = gcContainer();
    const [command, ...args] = [...(container.command ?? []), ...(container.args ?? [])];
    expect(image.scripts).toContain(command);
    expect(command).toBe(`${image.workdir}/scripts/gc`);
    expect(args).toEqual(['--config', image.config]);
    expect(envOf(container).KEEL_CONFIG).toBe(image.config);
    // Same ConfigMap as the server's.
    const configDir = image.config.slice(0, image.config.lastIndexOf('/'));
    expect(volumeOf(gcPod().spec, mountOf(container, configDir).name).configMap).toEqual(volumeOf(server().spec, mountOf(serverContainer(), configDir).name).configMap);
    // ReadWriteOnce and SQLite's locks both need the same node as the server.
    const affinity = only(gcPod().spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution, 'required pod affinity term');
    expect(affinity.topologyKey).toBe('kubernetes.io/hostname');
    expect(server().metadata.labels).toMatchObject(affinity.labelSelector.matchLabels);
    expect(gcPod().metadata.labels).not.toMatchObject(affinity.labelSelector.matchLabels);
  });

  test('a Service named keel cannot break start-up: Keel and the GC run with the service links Kubernetes would set, and the probes answer', async () => {
    const links = serviceLinks(one('Service'), '10.96.0.10');
    expect(Object.keys(links)).toEqual(expect.arrayContaining(['KEEL_PORT', 'KEEL_SERVICE_HOST', 'KEEL_PORT_5000_TCP_ADDR']));
    // The ConfigMap's configuration, with the volume in a temp directory and any free port.
    const text = defined(one('ConfigMap').data?.['configuration.toml'], 'configuration.toml').replaceAll(image.volume, join(scratch, 'data')).replace(/^listen = .*$/m, 'listen = "127.0.0.1:0"');
    const file = join(scratch, 'configuration.toml');
    await writeFile(file, text);
    const keel = run(KEEL, [], { env: { ...envOf(serverContainer()), ...links, KEEL_CONFIG: file } });
    const listening = await keel.logged('keel listening');
    const container = serverContainer();
    for (const probe of [container.livenessProbe?.httpGet, container.readinessProbe?.httpGet]) {
      const res = await fetch(`http://127.0.0.1:${String(listening.port)}${defined(probe, 'probe').path}`);
      expect([probe?.path, res.status]).toEqual([probe?.path, 200]);
    }
    const warning = keel.logs().find((l) => l.level === 40)?.msg ?? '';
    expect(warning).toMatch(/look like Kubernetes service links/);
    for (const name of Object.keys(links)) expect(warning).toContain(name);

    const gcArgs = [...(gcContainer().args ?? []), ...(gcContainer().command ?? []).slice(1)].map((a) => (a === image.config ? file : a));
    const gc = run(GC, gcArgs, { env: { ...envOf(gcContainer()), ...links, KEEL_CONFIG: file } });
    expect([await gc.exited, gc.stderr()]).toEqual([0, expect.any(String)]);
  });
});

/**
 * deploy/kubernetes/ha/: the same checks where they apply, and what several replicas need:
 * the configuration selects PostgreSQL and S3 once the pod's environment (a Secret, the
 * downward API, `$(VAR)` references) is expanded as kubelet expands it, each pod advertises its
 * own IP at Keel's port, nothing is on a PersistentVolume, a PodDisruptionBudget keeps replicas.
 */
const HA = 'deploy/kubernetes/ha';

interface HaEnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
interface HaManifest extends Omit<Manifest, 'spec'> {
  spec?: Omit<NonNullable<Manifest['spec']>, 'template' | 'jobTemplate'> & {
    template?: HaPodTemplate;
    jobTemplate?: { spec: { template: HaPodTemplate } };
    sessionAffinity?: string;
    minAvailable?: number;
    maxUnavailable?: number;
    strategy?: { type: string; rollingUpdate?: { maxUnavailable?: number; maxSurge?: number } };
  };
}
interface HaPodTemplate { metadata: { labels: Record<string, string> }; spec: Omit<PodSpec, 'containers'> & { containers: Array<Omit<Container, 'env'> & { env?: HaEnvVar[] }> } }

/** What the pod's fields and the Secret hold, for the expansion below. */
const POD = { 'metadata.name': 'keel-6c9f7d8b5-x2x7q', 'status.podIP': '10.244.1.17' };
const SECRET: Record<string, string> = { database: 'postgres://keel:pw@postgres.example:5432/keel?sslmode=require', 's3-access-key-id': 'AK', 's3-secret-access-key': 'SK' };

/**
 * A container's environment as kubelet builds it: values from fields and the Secret, then
 * `$(NAME)` replaced by a variable defined earlier in the list (`$$` a literal `$`); a reference
 * to anything else stays as written, as kubelet leaves it.
 */
function kubeletEnv(env: HaEnvVar[] | undefined, secret: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of env ?? []) {
    let value: string;
    if (v.value !== undefined) value = v.value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name?: string) => (whole === '$$' ? '$' : name !== undefined && name in out ? (out[name] as string) : whole));
    else if (v.valueFrom?.fieldRef) value = defined(POD[v.valueFrom.fieldRef.fieldPath as keyof typeof POD], `downward API field ${v.valueFrom.fieldRef.fieldPath}`);
    else if (v.valueFrom?.secretKeyRef) value = defined(secret[v.valueFrom.secretKeyRef.key], `key ${v.valueFrom.secretKeyRef.key} of Secret ${v.valueFrom.secretKeyRef.name}`);
    else throw new Error(`${v.name}: neither value nor a valueFrom this test knows`);
    out[v.name] = value;
  }
  return out;
}

describe('deploy/kubernetes/ha', () => {
  let ha: HaManifest[];
  let haKustomization: Kustomization;
  const haOne = (kind: string): HaManifest => {
    const found = ha.filter((m) => m.kind === kind);
    if (found.length !== 1) throw new Error(`expected one ${kind} in ${HA}, found ${found.length}`);
    return found[0] as HaManifest;
  };
  const haServer = (): HaPodTemplate => defined(haOne('Deployment').spec?.template, 'Deployment template');
  const haGc = (): HaPodTemplate => defined(haOne('CronJob').spec?.jobTemplate?.spec.template, 'CronJob job template');
  const container = (t: HaPodTemplate): HaPodTemplate['spec']['containers'][number] => only(t.spec.containers, 'container');
  /** The ConfigMap's configuration as Keel parses it in this pod's container. */
  const haConfig = (t: HaPodTemplate): ReturnType<typeof parseConfigText> => {
    const c = container(t);
    const env = kubeletEnv(c.env, SECRET);
    const file = env.KEEL_CONFIG ?? image.config;
    const dir = file.slice(0, file.lastIndexOf('/'));
    const mount = defined((c.volumeMounts ?? []).find((m) => m.mountPath === dir), `${c.name}: a mount at ${dir}`);
    const map = defined((t.spec.volumes ?? []).find((v) => v.name === mount.name)?.configMap, `configMap volume at ${dir}`);
    const configMap = haOne('ConfigMap');
    expect(configMap.metadata.name).toBe(map.name);
    return parseConfigText(defined(configMap.data?.[file.slice(dir.length + 1)], 'configuration.toml'), `${HA}/configmap.yaml`, dir, env);
  };
  /** The Secret keys the kustomization's `kubectl create secret` comment sets. */
  const documentedSecret = (): { name: string; keys: string[] } => {
    const text = readFileSync(`${HA}/kustomization.yaml`, 'utf8');
    const name = defined(/kubectl create secret generic (\S+)/.exec(text)?.[1], 'a `kubectl create secret generic` line');
    return { name, keys: [...text.matchAll(/--from-literal=([a-z0-9-]+)=/g)].map((m) => m[1] as string) };
  };

  beforeAll(() => {
    haKustomization = yamlDocuments(`${HA}/kustomization.yaml`)[0] as Kustomization;
    ha = haKustomization.resources.flatMap((file) => yamlDocuments(`${HA}/${file}`) as HaManifest[]);
  });

  test('the kustomization lists every manifest of the folder, each parses, and the image it sets is the one the pods use', async () => {
    const files = (await readdir(HA)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...haKustomization.resources].sort()).toEqual(files.sort());
    expect(ha.map((m) => m.kind).sort()).toEqual(['ConfigMap', 'CronJob', 'Deployment', 'PodDisruptionBudget', 'Service']);
    const name = only((haKustomization.images ?? []).map((i) => i.name), 'kustomization image');
    expect([container(haServer()).image, container(haGc()).image]).toEqual([name, name]);
  });

  test("the ConfigMap parses with Keel's parser in the replicas' and the GC's environment, with no warning: PostgreSQL from the Secret, S3 for both stores", () => {
    for (const template of [haServer(), haGc()]) {
      const { config, warnings } = haConfig(template);
      expect(warnings).toEqual([]);
      expect(config.database).toBe(SECRET.database);
      expect([config.storage.registry.kind, config.storage.proxy.kind]).toEqual(['s3', 's3']);
      expect([config.s3.access_key_id, config.s3.secret_access_key]).toEqual([SECRET['s3-access-key-id'], SECRET['s3-secret-access-key']]);
      // Nothing else on a volume: only the per-pod spool, on the emptyDir at the image's volume path.
      expect(isUnder(config.temporary_registry_storage, image.volume)).toBe(true);
    }
  });

  test("each replica is named after its pod and advertises its pod IP at Keel's port, through the downward API", () => {
    const { config } = haConfig(haServer());
    expect(config.cluster.replica).toBe(POD['metadata.name']);
    expect(config.cluster.advertise_url).toBe(`http://${POD['status.podIP']}:${config.listen.port}`);
    const c = container(haServer());
    expect(only(c.ports, 'container port').containerPort).toBe(config.listen.port);
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
    expect(env.POD_IP?.valueFrom).toEqual({ fieldRef: { fieldPath: 'status.podIP' } });
    expect(env.KEEL_CLUSTER_ADVERTISE_URL?.value).toBe(`http://$(POD_IP):${config.listen.port}`);
    // kubelet only expands a variable defined above the one that uses it.
    const names = (c.env ?? []).map((e) => e.name);
    expect(names.indexOf('POD_IP')).toBeLessThan(names.indexOf('KEEL_CLUSTER_ADVERTISE_URL'));
    expect(names.indexOf('POD_NAME')).toBeLessThan(names.indexOf('KEEL_CLUSTER_REPLICA'));
  });

  test('every KEEL_ name is one Keel reads; the secrets come from the one Secret the kustomization says how to create', () => {
    const names = keelNamesIn(ha);
    expect(names).toEqual(expect.arrayContaining(['KEEL_CONFIG', 'KEEL_DATABASE', 'KEEL_CLUSTER_ADVERTISE_URL']));
    expect(names.filter((n) => !KEEL_NAMES.has(n))).toEqual([]);
    const documented = documentedSecret();
    for (const template of [haServer(), haGc()]) {
      const refs = (container(template).env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef] : []));
      expect(refs.map((r) => r.name)).toEqual(refs.map(() => documented.name));
      expect(refs.map((r) => r.key).sort()).toEqual([...documented.keys].sort());
      const byName = Object.fromEntries((container(template).env ?? []).map((e) => [e.name, e.valueFrom?.secretKeyRef?.key]));
      expect(byName.KEEL_DATABASE).toBe('database');
    }
  });

  test('the replicas: three, rolling one at a time, liveness on /health and readiness on /ready, a Service without affinity, a PodDisruptionBudget', () => {
    const { config } = haConfig(haServer());
    const spec = defined(haOne('Deployment').spec, 'Deployment spec');
    expect(spec.replicas).toBe(3);
    expect(spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 1 } });
    const c = container(haServer());
    const probe = (p: Probe | undefined): [string, number] => {
      const get = defined(p?.httpGet, 'probe httpGet');
      return [get.path, portNumber(c as Container, get.port)];
    };
    expect([probe(c.livenessProbe), probe(c.readinessProbe)]).toEqual([['/health', config.listen.port], ['/ready', config.listen.port]]);
    const service = haOne('Service');
    expect(service.spec?.sessionAffinity ?? 'None').toBe('None');
    expect(portNumber(c as Container, only(service.spec?.ports, 'Service port').targetPort)).toBe(config.listen.port);
    expect(haServer().metadata.labels).toMatchObject(service.spec?.selector as Record<string, string>);
    const pdb = haOne('PodDisruptionBudget');
    expect(haServer().metadata.labels).toMatchObject((pdb.spec?.selector as { matchLabels: Record<string, string> }).matchLabels);
    expect(haGc().metadata.labels).not.toMatchObject((pdb.spec?.selector as { matchLabels: Record<string, string> }).matchLabels);
    // A drain may take one replica, never the last ones.
    expect(pdb.spec?.minAvailable).toBe((spec.replicas ?? 0) - 1);
  });

  test('no PersistentVolume anywhere: the pods keep only scratch, on emptyDirs; read-only root, non-root user, no privilege, no service links', () => {
    expect(ha.filter((m) => m.kind === 'PersistentVolumeClaim')).toEqual([]);
    for (const template of [haServer(), haGc()]) {
      const pod = template.spec;
      for (const v of pod.volumes ?? []) expect([v.name, v.persistentVolumeClaim]).toEqual([v.name, undefined]);
      const c = container(template);
      const local = defined((c.volumeMounts ?? []).find((m) => m.mountPath === image.volume), `${c.name}: a mount at ${image.volume}`);
      expect((pod.volumes ?? []).find((v) => v.name === local.name)?.emptyDir).toBeDefined();
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: image.uid, runAsGroup: image.gid, fsGroup: image.gid });
      expect([pod.enableServiceLinks, pod.automountServiceAccountToken]).toEqual([false, false]);
      expect(c.securityContext).toEqual({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    }
  });

  test("the GC CronJob: the image's scripts/gc on the replicas' configuration and database, on any node, never two at once", () => {
    const cron = haOne('CronJob');
    expect(cron.spec?.schedule).toMatch(/^\S+( \S+){4}$/);
    expect(cron.spec?.concurrencyPolicy).toBe('Forbid');
    const c = container(haGc());
    expect([...(c.command ?? []), ...(c.args ?? [])]).toEqual([`${image.workdir}/scripts/gc`, '--config', image.config]);
    expect(image.scripts).toContain(`${image.workdir}/scripts/gc`);
    expect(haConfig(haGc()).config.database).toBe(haConfig(haServer()).config.database);
    expect(haConfig(haGc()).config.storage).toEqual(haConfig(haServer()).config.storage);
    // Without a shared volume or SQLite's file locks, nothing ties it to a replica's node.
    expect(haGc().spec.affinity).toBeUndefined();
  });
});
