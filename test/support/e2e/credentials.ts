// Basic-auth credentials for a registry under test, in the one shape every client helper takes.
export interface Credentials {
  username: string;
  password: string;
}

/** The `user:password` form that skopeo, podman and ctr take on the command line. */
export function credsArg(c: Credentials): string {
  return `${c.username}:${c.password}`;
}
