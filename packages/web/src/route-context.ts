/**
 * Routes get hono's Context, typed by their path's parameters: this declares
 * it to core, which leaves the route context to the web server's package.
 */
import type { Context } from 'hono'

declare module '@stream-app/core' {
  interface RouteContextTypes<P extends string> {
    readonly context: Context<{}, P>
  }
}
