/**
 * Word count: sentences come in, an agent splits them into words keyed by the
 * word (so every count of a word lives on one partition), another agent counts
 * them in a table. A timer feeds sample sentences; a route and a command read
 * the counts.
 *
 *   npx stream-app run apps/examples/word-count.ts
 *   curl http://127.0.0.1:6066/count/stream
 *   npx stream-app send apps/examples/word-count.ts sentences '"a stream of words"'
 *   npx stream-app top apps/examples/word-count.ts --n 5
 */
import { createApp, Schema } from 'stream-app'

const SAMPLES = [
  'the quick brown fox jumps over the lazy dog',
  'a stream processor for typescript',
  'every word counts in a stream of words',
]

export const app = createApp({ id: 'word-count' })
  .topic('sentences', { value: Schema.String })
  .topic('words', { value: Schema.String })
  .table('counts', { default: () => 0 })
  .agent('split', { from: 'sentences' }, async (sentences, ctx) => {
    for await (const sentence of sentences) {
      for (const word of sentence.toLowerCase().split(/\W+/)) {
        if (word) await ctx.topics.words.send(word, { key: word })
      }
    }
  })
  .agent('count', { from: 'words' }, async (words, ctx) => {
    for await (const word of words) ctx.tables.counts.update(word, (n) => n + 1)
  })
  .timer('feed', { every: '2s' }, async (ctx) => {
    const sentence = SAMPLES[Math.floor(Math.random() * SAMPLES.length)]!
    await ctx.topics.sentences.send(sentence)
  })
  .route('GET', '/count/:word', (c, ctx) => {
    const word = c.req.param('word')
    return c.json({ word, count: ctx.tables.counts.get(word) })
  })
  .command(
    'top',
    { describe: 'Print the most frequent words', options: { n: { type: 'number', default: 10 } } },
    async (args, ctx) => {
      const top = [...ctx.tables.counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, args.n)
      for (const [word, count] of top) console.log(`${count}\t${word}`)
    },
  )

export default app
