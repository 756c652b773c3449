// The start-up warning for mirror mode with auth on: Docker daemons' registry-mirrors pull
// anonymously, so when the rules do not let anonymous pull proxy/<mirror.upstream>/...,
// Keel says so once, with the rule to add. Real servers, their log captured.
import { Writable } from 'node:stream';
import { describe, expect, test } from '@jest/globals';
import { pino } from 'pino';
import { startKeel } from '../support/keel-server.js';
import { rootWithUsers } from '../support/htpasswd.js';

interface LogEntry {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** The warnings a Keel logs at start-up with this [auth] rules text and [mirror] upstream. */
async function startupWarnings(rules: string, mirrorUpstream: string | undefined): Promise<LogEntry[]> {
  const root = await rootWithUsers('keel-mirror-warning', { alice: 'pw' });
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const keel = await startKeel({
    root,
    logger: pino({ level: 'info' }, sink),
    toml: `
[auth]
htpasswd = "htpasswd"
${rules}
[proxy.upstreams.hub]
url = "http://127.0.0.1:9"
allow_private = true
${mirrorUpstream === undefined ? '' : `\n[mirror]\nupstream = "${mirrorUpstream}"\n`}`,
  });
  await keel.destroy();
  return lines.map((l) => JSON.parse(l) as LogEntry).filter((e) => e.level === 40);
}

const rule = (repository: string, users: string, actions = '"pull"'): string => `\n[[auth.access]]\nrepository = "${repository}"\nusers = ["${users}"]\nactions = [${actions}]\n`;
const mirrorWarnings = (entries: LogEntry[]): LogEntry[] => entries.filter((e) => e.msg.includes('registry-mirrors'));

describe('mirror mode and anonymous pulls at start-up', () => {
  test('rules that do not let anonymous pull proxy/<mirror.upstream>/... get one warning naming the rule to add', async () => {
    for (const rules of ['', rule('**', '*'), rule('proxy/hub/team/**', 'anonymous'), rule('proxy/other/**', 'anonymous'), rule('proxy/**', 'anonymous', '"push"')]) {
      const warnings = mirrorWarnings(await startupWarnings(rules, 'hub'));
      expect([rules, warnings.length]).toEqual([rules, 1]);
      expect(warnings[0]).toMatchObject({ mirror_upstream: 'hub', checked: 'proxy/hub/library/x' });
      expect(warnings[0]?.msg).toContain('fall back to the internet');
      expect(warnings[0]?.msg).toContain('repository = "proxy/hub/**", users = ["anonymous"], actions = ["pull"]');
    }
  });

  test('rules that let anonymous pull what the mirror serves, or mirror mode off, get none', async () => {
    for (const rules of [rule('proxy/**', 'anonymous'), rule('proxy/hub/**', 'anonymous'), rule('proxy/hub/library/**', 'anonymous') + rule('**', 'alice', '"pull", "push"')]) {
      expect([rules, mirrorWarnings(await startupWarnings(rules, 'hub'))]).toEqual([rules, []]);
    }
    expect(mirrorWarnings(await startupWarnings('', undefined))).toEqual([]);
  });
});
