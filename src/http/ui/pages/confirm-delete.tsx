/**
 * Asks before deleting a tag or a manifest, and says what deleting does: a tag goes at once
 * (the manifest stays, under its digest and any other tag); a manifest goes with every tag on
 * it. Either way the bytes stay until garbage collection frees what nothing uses any more.
 */
import { Layout } from '../layout.js';
import type { UiPaths } from '../ui-paths.js';

export function ConfirmDeletePage(props: { paths: UiPaths; name: string; what: { tag: string } | { digest: string }; tags: readonly string[]; csrf: string }) {
  const { paths, name, what } = props;
  const isTag = 'tag' in what;
  const action = isTag ? paths.deleteTag(name, what.tag) : paths.deleteManifest(name, what.digest);
  const back = isTag ? paths.tag(name, what.tag) : paths.manifest(name, what.digest);
  return (
    <Layout title="Delete" paths={paths} section="repositories">
      <p class="crumbs">
        <a href={paths.home()}>Repositories</a> / <a href={paths.repository(name)}>{name}</a> /
      </p>
      <h1>{isTag ? `Delete the tag ${what.tag}?` : 'Delete this manifest?'}</h1>
      <p class="warning">
        {isTag ? (
          <>
            The tag <code>{`${name}:${what.tag}`}</code> goes at once; the image stays, by its digest and under any other tag.
          </>
        ) : (
          <>
            The manifest <code class="digest">{`${name}@${what.digest}`}</code> goes at once
            {props.tags.length > 0 ? <>, with its tags {props.tags.join(', ')}</> : null}. Clients can no longer pull it.
          </>
        )}
      </p>
      <p class="muted">The space is not freed now: the next garbage collection run (scripts/gc) frees what nothing uses any more.</p>
      <form method="post" action={action} class="confirm-delete">
        <input type="hidden" name="csrf" value={props.csrf} />
        <button type="submit" class="danger">
          Delete
        </button>{' '}
        <a href={back}>Cancel</a>
      </form>
    </Layout>
  );
}
