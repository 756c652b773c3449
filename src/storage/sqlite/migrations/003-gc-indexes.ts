/** Lookups garbage collection makes by digest alone (is this content a manifest anywhere?). */
export const up = `
CREATE INDEX manifests_by_digest ON manifests(digest);
`;
