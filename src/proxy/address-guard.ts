/**
 * The SSRF boundary of the proxy: an upstream may only be reached at public addresses unless
 * it is configured with `allow_private = true`. Checked at connection time (a DNS lookup
 * that filters addresses, so a name re-resolved to a private address is caught too) and for
 * IP literals, which skip DNS, before each request and redirect.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export class PrivateAddressError extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(`${host} resolves to ${address}, a non-public address; set allow_private = true on the upstream to allow it`);
    this.name = 'PrivateAddressError';
  }
}

/** True for anything but a globally routable unicast address. */
export function isPrivateAddress(address: string): boolean {
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed.range() !== 'unicast';
}

/** Throws when `host` is an IP literal that is not public. Names are checked by the lookup below. */
export function checkLiteralHost(host: string): void {
  const bare = host.replace(/^\[|\]$/g, '');
  if (isIP(bare) && isPrivateAddress(bare)) throw new PrivateAddressError(host, bare);
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A dns.lookup that refuses non-public results, for got's `dnsLookup` option. */
export function publicOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) {
      callback(err, '');
      return;
    }
    const list = addresses as LookupAddress[];
    const blocked = list.find((a) => isPrivateAddress(a.address));
    if (blocked) {
      callback(Object.assign(new PrivateAddressError(hostname, blocked.address), { code: 'EPRIVATEADDRESS' }), '');
      return;
    }
    if (options.all) callback(null, list);
    else callback(null, (list[0] as LookupAddress).address, (list[0] as LookupAddress).family);
  });
}
