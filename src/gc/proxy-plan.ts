/**
 * What cache retention evicts from the proxy store, computed without writing anything (a dry
 * run reports it, a real run applies it: proxy-gc.ts). The unit is an image: a cached tag with
 * its manifest and an index's child manifests, or a manifest no tag and no index reaches; a
 * blob that a kept image (of the same upstream) references is never evicted.
 *   - By age: an image not read for gc.proxy.max_age goes.
 *   - By size: beyond gc.proxy.max_size, the least recently read images go until the cache fits.
 * Nothing fetched within the grace period goes, and no pinned image (proxy_pins: a tag, or a
 * manifest digest, that `scripts/warm --pin` named): it still counts towards the size cap.
 *
 * The plan reads every proxy row once, row by row (GcIndex.proxyGraph), and keeps numbers: a
 * manifest is an index into `manifests`, a blob an index into BlobTable's columns, so a
 * million cached blobs cost a few arrays and one string each, not a million objects.
 */
import type { GcIndex, ProxyBlobRow, ProxyTagRow } from '../storage/gc-index.js';

interface Manifest {
  upstream: string;
  repository: string;
  digest: string;
  size: number;
  fetchedAt: number;
  lastAccess: number;
  /** Child manifests (indexes into the manifest list) and blobs (indexes into the BlobTable). */
  children: number[];
  blobs: number[];
  /** Kept images holding this manifest. */
  refs: number;
}

/** The proxy blob rows as columns, found by (upstream, digest) without a joined key string. */
class BlobTable {
  readonly upstream: string[] = [];
  readonly digest: string[] = [];
  readonly size: number[] = [];
  readonly fetchedAt: number[] = [];
  readonly lastAccess: number[] = [];
  /** References from kept images (one per manifest of the image that names the blob). */
  readonly refs: number[] = [];
  /** 1 when some cached manifest references the blob. */
  readonly referenced: number[] = [];
  private readonly byUpstream = new Map<string, Map<string, number>>();
  private readonly upstreams = new Map<string, string>();

  get length(): number {
    return this.digest.length;
  }

  add(row: ProxyBlobRow): void {
    let digests = this.byUpstream.get(row.upstream);
    if (digests === undefined) {
      digests = new Map();
      this.byUpstream.set(row.upstream, digests);
    }
    digests.set(row.digest, this.digest.length);
    this.upstream.push(this.interned(row.upstream));
    this.digest.push(row.digest);
    this.size.push(row.size);
    this.fetchedAt.push(row.fetched_at);
    this.lastAccess.push(row.last_access);
    this.refs.push(0);
    this.referenced.push(0);
  }

  find(upstream: string, digest: string): number | undefined {
    return this.byUpstream.get(upstream)?.get(digest);
  }

  /** One string per upstream, however many rows name it (each row read brings its own copy). */
  private interned(upstream: string): string {
    const known = this.upstreams.get(upstream);
    if (known !== undefined) return known;
    this.upstreams.set(upstream, upstream);
    return upstream;
  }
}

export interface ProxyPlanOptions {
  /** Fetched at or after this is within the grace period: never evicted. */
  cutoff: number;
  /** Not read since before this is evicted by age (-Infinity: no age rule). */
  ageCutoff: number;
  /** The cache's size cap in bytes (0: none). */
  maxSize: number;
}

export interface ProxyPlan {
  /** Tags of evicted images, in eviction order (deleted before the manifests they point at). */
  tags: ProxyTagRow[];
  manifests: Array<{ upstream: string; repository: string; digest: string; size: number; last_access: number }>;
  blobs: Array<{ upstream: string; digest: string; size: number; last_access: number }>;
  /** Of `digests`, those a kept manifest or blob row still names (a dry run's view of what stays). */
  stillNamed(digests: Iterable<string>): Set<string>;
}

interface Image {
  lastAccess: number;
  fresh: boolean;
  /** Pinned (proxy_pins, by its tag or root digest): never evicted. */
  pinned: boolean;
  manifests: number[];
  tag?: ProxyTagRow;
}

const mkey = (upstream: string, repository: string, digest: string): string => `${upstream}\n${repository}\n${digest}`;

export async function planProxy(index: GcIndex, options: ProxyPlanOptions): Promise<ProxyPlan> {
  const { cutoff, ageCutoff, maxSize } = options;
  const fresh = (fetchedAt: number): boolean => fetchedAt >= cutoff;
  const tags: ProxyTagRow[] = [];
  const manifests: Manifest[] = [];
  const manifestAt = new Map<string, number>();
  const blobs = new BlobTable();
  const pins = new Set<string>();
  await index.proxyGraph({
    pin: (p) => pins.add(mkey(p.upstream, p.repository, p.reference)),
    tag: (row) => tags.push(row),
    manifest: (m) => {
      manifestAt.set(mkey(m.upstream, m.repository, m.digest), manifests.length);
      manifests.push({ upstream: m.upstream, repository: m.repository, digest: m.digest, size: m.size, fetchedAt: m.fetched_at, lastAccess: m.last_access, children: [], blobs: [], refs: 0 });
    },
    blob: (b) => blobs.add(b),
    reference: (r) => {
      const parent = manifestAt.get(mkey(r.upstream, r.repository, r.manifest_digest));
      if (parent === undefined) return;
      const m = manifests[parent] as Manifest;
      if (r.kind === 'manifest') {
        const child = manifestAt.get(mkey(r.upstream, r.repository, r.child_digest));
        if (child !== undefined) m.children.push(child);
        return;
      }
      const blob = blobs.find(r.upstream, r.child_digest);
      if (blob === undefined) return;
      m.blobs.push(blob);
      blobs.referenced[blob] = 1;
    },
  });

  // An image is a root (a tag, or a manifest no tag and no index points at) and what it reaches.
  const seenIn = new Int32Array(manifests.length).fill(-1);
  let walk = 0;
  const reach = (root: number | undefined): number[] => {
    const members: number[] = [];
    if (root === undefined) return members;
    walk++;
    const stack = [root];
    while (stack.length > 0) {
      const i = stack.pop() as number;
      if (seenIn[i] === walk) continue;
      seenIn[i] = walk;
      members.push(i);
      stack.push(...(manifests[i] as Manifest).children);
    }
    return members;
  };
  const m = (i: number): Manifest => manifests[i] as Manifest;
  const isRoot = new Uint8Array(manifests.length).fill(1);
  for (const parent of manifests) for (const child of parent.children) isRoot[child] = 0;
  const images: Image[] = [];
  for (const t of tags) {
    const root = manifestAt.get(mkey(t.upstream, t.repository, t.digest));
    if (root !== undefined) isRoot[root] = 0;
    const members = reach(root);
    let lastAccess = t.last_access;
    for (const i of members) lastAccess = Math.max(lastAccess, m(i).lastAccess);
    const pinned = pins.has(mkey(t.upstream, t.repository, t.tag));
    images.push({ lastAccess, fresh: fresh(t.checked_at) || members.some((i) => fresh(m(i).fetchedAt)), pinned, manifests: members, tag: t });
  }
  // isRoot is final only after the tags: a tagged manifest is its tag's image, not one of its own.
  // A manifest pinned by digest is an image of its own too, wherever it sits (a child of an index).
  for (let root = 0; root < manifests.length; root++) {
    const pinned = pins.has(mkey(m(root).upstream, m(root).repository, m(root).digest));
    if (isRoot[root] === 0 && !pinned) continue;
    const members = reach(root);
    let lastAccess = -Infinity;
    for (const i of members) lastAccess = Math.max(lastAccess, m(i).lastAccess);
    images.push({ lastAccess, fresh: members.some((i) => fresh(m(i).fetchedAt)), pinned, manifests: members });
  }

  const keptManifest = (x: Manifest): boolean => x.refs > 0 || fresh(x.fetchedAt);
  // A blob no cached manifest references (fetched by digest alone) lives by its own last read.
  const keptBlob = (b: number): boolean =>
    (blobs.refs[b] as number) > 0 || fresh(blobs.fetchedAt[b] as number) || (blobs.referenced[b] === 0 && (blobs.lastAccess[b] as number) >= ageCutoff);
  for (const image of images) {
    for (const i of image.manifests) {
      m(i).refs++;
      for (const b of m(i).blobs) (blobs.refs[b] as number)++;
    }
  }

  const evicted: Image[] = [];
  /** Lets go of an image; returns the bytes that frees (what no other kept image holds). */
  const evict = (image: Image): number => {
    evicted.push(image);
    let freed = 0;
    for (const i of image.manifests) {
      const x = m(i);
      x.refs--;
      if (!keptManifest(x)) freed += x.size;
      for (const b of x.blobs) {
        blobs.refs[b] = (blobs.refs[b] as number) - 1;
        if (blobs.refs[b] === 0 && !keptBlob(b)) freed += blobs.size[b] as number;
      }
    }
    return freed;
  };
  const evictable = (image: Image): boolean => !image.fresh && !image.pinned;
  for (const image of images) if (evictable(image) && image.lastAccess < ageCutoff) evict(image);

  if (maxSize > 0) {
    let total = 0;
    for (const x of manifests) if (keptManifest(x)) total += x.size;
    for (let b = 0; b < blobs.length; b++) if (keptBlob(b)) total += blobs.size[b] as number;
    const gone = new Set(evicted);
    const byAge = images.filter((i) => !gone.has(i) && evictable(i)).sort((a, b) => a.lastAccess - b.lastAccess);
    for (const image of byAge) {
      if (total <= maxSize) break;
      total -= evict(image);
    }
  }

  const deadBlobs: ProxyPlan['blobs'] = [];
  for (let b = 0; b < blobs.length; b++) {
    if (!keptBlob(b)) deadBlobs.push({ upstream: blobs.upstream[b] as string, digest: blobs.digest[b] as string, size: blobs.size[b] as number, last_access: blobs.lastAccess[b] as number });
  }
  return {
    tags: evicted.flatMap((image) => (image.tag ? [image.tag] : [])),
    manifests: manifests
      .filter((x) => !keptManifest(x))
      .map((x) => ({ upstream: x.upstream, repository: x.repository, digest: x.digest, size: x.size, last_access: x.lastAccess })),
    blobs: deadBlobs,
    stillNamed: (digests) => {
      const wanted = new Set(digests);
      const named = new Set<string>();
      for (const x of manifests) if (wanted.has(x.digest) && keptManifest(x)) named.add(x.digest);
      for (let b = 0; b < blobs.length; b++) if (wanted.has(blobs.digest[b] as string) && keptBlob(b)) named.add(blobs.digest[b] as string);
      return named;
    },
  };
}
