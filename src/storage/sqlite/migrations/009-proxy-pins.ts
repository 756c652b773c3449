/**
 * Pinned images of the pull-through cache (`scripts/warm --pin`): a tag or a manifest digest
 * per upstream repository that cache retention never evicts, whatever its age or the size
 * cap. Kept apart from proxy_tags and proxy_manifests, so a pin outlives the rows it names
 * (a tag the upstream moved, an image GC took before it was pinned) and is set before warming.
 */
export const up = `
CREATE TABLE proxy_pins (
  upstream    TEXT NOT NULL,
  repository  TEXT NOT NULL,
  reference   TEXT NOT NULL,
  pinned_at   INTEGER NOT NULL,
  PRIMARY KEY (upstream, repository, reference)
) WITHOUT ROWID;
`;
