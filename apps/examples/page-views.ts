/**
 * Windowed page views: clicks are counted per page in 1-minute tumbling windows
 * kept for an hour, by event time. A route shows the current minute and the
 * history of a page.
 *
 *   npx stream-app run apps/examples/page-views.ts
 *   npx stream-app send apps/examples/page-views.ts views '{"page":"/home","user":"ann"}' --key /home
 *   curl http://127.0.0.1:6066/views/%2Fhome
 */
import { createApp, Schema, tumbling } from 'stream-app'

const View = Schema.Struct({ page: Schema.String, user: Schema.String })

export const app = createApp({ id: 'page-views' })
  .topic('views', { value: View })
  .table('per-minute', { default: () => 0, window: tumbling('1m', { expires: '1h' }) })
  .agent('count', { from: 'views' }, async (views, ctx) => {
    for await (const view of views.groupBy((v) => v.page, { name: 'by-page' })) {
      ctx.tables['per-minute'].update(view.page, (n) => n + 1)
    }
  })
  .route('GET', '/views/:page', (c, ctx) => {
    const page = c.req.param('page')
    const table = ctx.tables['per-minute']
    return c.json({ page, thisMinute: table.now(page), windows: table.windows(page) })
  })

export default app
