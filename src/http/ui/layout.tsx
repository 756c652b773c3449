/**
 * The frame of every UI page: the header with Keel's name, the navigation, a place for the
 * sign-in state (empty until the UI has sign-in), and the page's own content. The stylesheet
 * and the one script are Keel's own files; nothing inline (the CSP forbids it).
 */
import type { ComponentChildren } from 'preact';
import { useContext } from 'preact/hooks';
import type { UiPaths } from './ui-paths.js';
import { ViewerContext } from './viewer.js';

export type Section = 'repositories' | 'proxy' | 'status' | undefined;

export interface LayoutProps {
  title: string;
  paths: UiPaths;
  section: Section;
  /** Who is signed in, or a sign-in link: filled in once the UI has sign-in. */
  signIn?: ComponentChildren;
  children: ComponentChildren;
}

function NavLink(props: { href: string; current: boolean; children: ComponentChildren }) {
  return (
    <a href={props.href} class={props.current ? 'current' : undefined} aria-current={props.current ? 'page' : undefined}>
      {props.children}
    </a>
  );
}

/** The header's corner: who is signed in and a sign-out button, or a sign-in link (auth on only). */
function SignIn(props: { paths: UiPaths }) {
  const viewer = useContext(ViewerContext);
  if (!viewer.authOn) return null;
  if (viewer.user === undefined) return <a href={props.paths.signIn(viewer.here)}>Sign in</a>;
  return (
    <>
      <span class="user">{viewer.user}</span>
      {viewer.session && (
        <form method="post" action={props.paths.signOut()} class="sign-out">
          <input type="hidden" name="csrf" value={viewer.csrf} />
          <button type="submit">Sign out</button>
        </form>
      )}
    </>
  );
}

export function Layout(props: LayoutProps) {
  const { paths, section } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>{`${props.title} · Keel`}</title>
        <link rel="stylesheet" href={paths.asset('keel.css')} />
        <script src={paths.asset('copy.js')} defer />
      </head>
      <body>
        <header class="top">
          <a class="brand" href={paths.home()}>
            Keel
          </a>
          <nav aria-label="Main">
            <NavLink href={paths.home()} current={section === 'repositories'}>
              Repositories
            </NavLink>
            <NavLink href={paths.proxy()} current={section === 'proxy'}>
              Proxy cache
            </NavLink>
            <NavLink href={paths.status()} current={section === 'status'}>
              Status
            </NavLink>
          </nav>
          <div class="sign-in" id="sign-in">
            {props.signIn ?? <SignIn paths={paths} />}
          </div>
        </header>
        <main>{props.children}</main>
      </body>
    </html>
  );
}
