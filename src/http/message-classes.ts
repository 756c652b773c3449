/**
 * The request and response classes the HTTP server builds its objects from: constructors
 * whose prototypes are the Express app's own `app.request` and `app.response`.
 *
 * Why: for every request Express calls `Object.setPrototypeOf(req, app.request)` (and the
 * same for `res`). Changing the prototype of a live object sends V8 down its slow paths for
 * that object, in Express and in Node's own HTTP code alike. When the server creates its
 * objects with that prototype already, the call is a no-op (the prototype is the same one).
 * A one-route Express app answered 11,500 req/s before and 33,000 after on the 2-core bench
 * machine; plain Node answered 57,000.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';

export interface MessageClasses {
  IncomingMessage: typeof IncomingMessage;
  ServerResponse: typeof ServerResponse;
}

/** Node's constructors are plain functions, so a subclass can call them on `this`. */
type Initialise = (this: object, ...args: unknown[]) => void;

function withPrototype(base: Initialise, prototype: object): unknown {
  function Message(this: object, ...args: unknown[]): void {
    base.apply(this, args);
  }
  Message.prototype = prototype;
  return Message;
}

export function messageClasses(app: Express): MessageClasses {
  return {
    IncomingMessage: withPrototype(IncomingMessage as unknown as Initialise, app.request) as typeof IncomingMessage,
    ServerResponse: withPrototype(ServerResponse as unknown as Initialise, app.response) as typeof ServerResponse,
  };
}
