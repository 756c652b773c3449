/**
 * Who this process is to the other replicas: the holder name written into download leases
 * (cluster.replica, or the host name, plus a nonce per process, so that a restarted replica
 * never mistakes its predecessor's lease for its own), and the base URL where it serves its
 * downloads to them (cluster.advertise_url, or one worked out once the port is known).
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';

export class PeerIdentity {
  readonly holder: string;
  private baseUrl: string;

  constructor(
    replica: string,
    private readonly advertiseUrl: string,
  ) {
    this.holder = `${replica === '' ? hostname() : replica}/${randomBytes(6).toString('hex')}`;
    this.baseUrl = advertiseUrl.replace(/\/+$/, '');
  }

  /** The base URL other replicas reach this one at ('' until listening, unless configured). */
  url(): string {
    return this.baseUrl;
  }

  /**
   * Called once listening (listen may say port 0): without advertise_url, the address bound
   * when it is one address (nothing else reaches this process), and when listening on all
   * of them the first non-internal IPv4 address, else loopback.
   */
  listening(address: AddressInfo, tls: boolean): void {
    if (this.advertiseUrl !== '') return;
    let host = address.address;
    if (host === '0.0.0.0' || host === '::') {
      const external = Object.values(networkInterfaces())
        .flat()
        .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
      host = external?.address ?? '127.0.0.1';
    }
    if (host.includes(':')) host = `[${host}]`;
    this.baseUrl = `${tls ? 'https' : 'http'}://${host}:${address.port}`;
  }
}
