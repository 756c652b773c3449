import { PullProgress } from '../../scripts/bench/docker-pull-progress.js';

const A = 'aaaaaaaaaaaa';
const B = 'bbbbbbbbbbbb';
const C = 'cccccccccccc';

function feed(p: PullProgress, at: number, ...lines: string[]): void {
  p.write(lines.map((l) => `${l}\n`).join(''), at);
}

describe('docker pull progress output', () => {
  test('a layer ends at its first download-end status; pulled and existing layers are counted once each', () => {
    const p = new PullProgress();
    feed(p, 1, 'v1: Pulling from bench/pull-0', `${A}: Pulling fs layer`, `${B}: Pulling fs layer`, `${C}: Already exists`);
    feed(p, 5, `${A}: Verifying Checksum`);
    feed(p, 6, `${A}: Download complete`, `${B}: Download complete`);
    feed(p, 9, `${A}: Pull complete`, `${B}: Pull complete`, `${A}: Pull complete`);
    feed(p, 10, 'Digest: sha256:8ccb', 'Status: Downloaded newer image for x');
    expect(p.summary()).toEqual({ pulled: 2, existed: 1, inferred: 0, downloadedAt: 6 });
  });

  test('a layer whose download statuses docker coalesced away ends at its Extracting or Pull complete line, counted as inferred', () => {
    const p = new PullProgress();
    feed(p, 1, `${A}: Pulling fs layer`, `${B}: Pulling fs layer`, `${C}: Pulling fs layer`);
    feed(p, 3, `${A}: Verifying Checksum`);
    feed(p, 4, `${A}: Pull complete`, `${B}: Extracting [=====>    ]  1.2MB/2.4MB`);
    feed(p, 7, `${B}: Pull complete`, `${C}: Pull complete`);
    expect(p.summary()).toEqual({ pulled: 3, existed: 0, inferred: 2, downloadedAt: 7 });
  });

  test('lines split across chunks are read whole, and a layer that never completed is not pulled', () => {
    const p = new PullProgress();
    p.write(`${A}: Download com`, 2);
    p.write(`plete\r\n${B}: Downloading\n${A}: Pull c`, 3);
    p.write('omplete\n', 8);
    expect(p.summary()).toEqual({ pulled: 1, existed: 0, inferred: 0, downloadedAt: 3 });
  });
});
