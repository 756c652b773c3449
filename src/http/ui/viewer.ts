/**
 * Who is looking at a page, for the layout's sign-in corner and for the actions a page offers
 * (a delete button only where the access rules allow it): handed down through a Preact
 * context so that pages need not pass it along.
 */
import { createContext } from 'preact';

export interface Viewer {
  /** Whether authentication is on (otherwise there is nobody to sign in as). */
  authOn: boolean;
  /** The signed-in user (by the UI's session, or the request's own credentials). */
  user: string | undefined;
  /** Signed in through the UI (so signing out means something). */
  session: boolean;
  /** The secret the page's forms carry (ui-session.ts). */
  csrf: string;
  /** The path of the page, for "sign in and come back here". */
  here: string;
  /** Whether the viewer may delete in this repository. */
  mayDelete(repo: string): boolean;
}

export const ViewerContext = createContext<Viewer>({ authOn: false, user: undefined, session: false, csrf: '', here: '/', mayDelete: () => false });
