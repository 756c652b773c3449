/** The sign-in form: the htpasswd users' names and passwords, posted back here with the page's CSRF secret. */
import { Layout } from '../layout.js';
import type { UiPaths } from '../ui-paths.js';

export function SignInPage(props: { paths: UiPaths; csrf: string; next: string; error?: string; username?: string }) {
  return (
    <Layout title="Sign in" paths={props.paths} section={undefined}>
      <h1>Sign in</h1>
      {props.error !== undefined && (
        <p class="error" role="alert">
          {props.error}
        </p>
      )}
      <form method="post" action={props.paths.signIn()} class="sign-in-form">
        <input type="hidden" name="csrf" value={props.csrf} />
        <input type="hidden" name="next" value={props.next} />
        <label>
          User name <input type="text" name="username" autocomplete="username" required maxLength={256} value={props.username ?? ''} />
        </label>
        <label>
          Password <input type="password" name="password" autocomplete="current-password" required maxLength={1024} />
        </label>
        <button type="submit">Sign in</button>
      </form>
    </Layout>
  );
}
