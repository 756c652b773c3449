// Free loopback TCP ports for servers that must be told their port up front.
import { createServer } from 'node:net';

/**
 * Asks the kernel for a free port on 127.0.0.1. There is a window between closing the
 * probe and the server binding it; callers that spawn a server retry on "address in use".
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the probe server address'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
