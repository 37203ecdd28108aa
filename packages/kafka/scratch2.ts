import { openKafkaBroker } from './src/index.ts'

const sasl = (pw: string) => ({
  'security.protocol': 'SASL_PLAINTEXT',
  'sasl.mechanisms': 'PLAIN',
  'sasl.username': 'stream-app',
  'sasl.password': pw,
})
for (const [url, bo] of [
  ['kafka://127.0.0.1:1', {}],
  ['kafka://127.0.0.1:19094', sasl('bad')],
  ['kafka://127.0.0.1:19094', sasl('stream-app-secret')],
] as const) {
  const t0 = Date.now()
  try {
    const b = await openKafkaBroker({ url, brokerOptions: bo })
    console.log('ok', Date.now() - t0, await b.partitions('x'))
    await b.close()
  } catch (e) {
    console.log(
      Date.now() - t0,
      (e as Error).name,
      (e as Error).message,
      (e as { retriable: boolean }).retriable,
    )
  }
}
