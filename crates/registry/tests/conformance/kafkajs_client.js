// Drives our registry with npm @kafkajs/confluent-schema-registry (pinned in package.json):
// Avro register (with its GET /config probe and PUT /config on first registration), encode,
// decode, lookups, and an incompatible registration. Its Protobuf support writes no message
// indexes (upstream issue #248), so only Avro is checked here.
//
// Usage: node kafkajs_client.js REGISTRY_URL
// Prints "ok NAME" or "FAIL NAME: why" per check; exits 1 if any failed.

'use strict'

const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')

const URL = process.argv[2]
const RUN = crypto.randomBytes(4).toString('hex')
const registry = new SchemaRegistry({ host: URL })

const ORDER_V1 = {
  type: 'record',
  name: 'OrderCreated',
  namespace: 'shop.orders',
  fields: [
    { name: 'order_id', type: 'string' },
    { name: 'customer_id', type: 'string' },
    { name: 'amount', type: 'long' },
  ],
}
const ORDER_BREAKING = { ...ORDER_V1, fields: [...ORDER_V1.fields, { name: 'note', type: 'string' }] }
const subject = `orders-${RUN}-value`

async function raw(path) {
  const response = await fetch(URL + path, { headers: { Accept: 'application/vnd.schemaregistry.v1+json' } })
  return { status: response.status, body: await response.json() }
}

const checks = {
  async register_is_idempotent_and_sets_the_subject_level() {
    const schema = { type: SchemaType.AVRO, schema: JSON.stringify(ORDER_V1) }
    const { id } = await registry.register(schema, { subject })
    // A second registration finds the level it set and gets the same id.
    const again = await registry.register(schema, { subject })
    assert.equal(again.id, id)
    const config = await raw(`/config/${subject}`)
    assert.equal(config.status, 200)
    assert.equal(config.body.compatibilityLevel, 'BACKWARD')
    assert.equal(await registry.getLatestSchemaId(subject), id)
    assert.equal(await registry.getRegistryId(subject, 1), id)
    assert.equal(await registry.getRegistryIdBySchema(subject, schema), id)
  },

  async encode_writes_confluent_framing_and_decode_reads_it() {
    const id = await registry.getLatestSchemaId(subject)
    const record = { order_id: 'o1', customer_id: 'c1', amount: 1234 }
    const bytes = await registry.encode(id, record)
    const expected = Buffer.concat([Buffer.from([0]), int32(id), Buffer.from('046f31046331a413', 'hex')])
    assert.equal(bytes.toString('hex'), expected.toString('hex'))
    // A fresh client has no cache: decode fetches the writer schema by id.
    const fresh = new SchemaRegistry({ host: URL })
    assert.deepEqual({ ...(await fresh.decode(bytes)) }, record)
  },

  async an_incompatible_schema_is_refused_with_409() {
    await assert.rejects(
      registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(ORDER_BREAKING) }, { subject }),
      (e) => e.status === 409 && /incompatible/i.test(e.message),
    )
    const versions = await raw(`/subjects/${subject}/versions`)
    assert.deepEqual(versions.body, [1])
  },

  async an_unknown_id_is_a_404() {
    const fresh = new SchemaRegistry({ host: URL })
    const bytes = Buffer.concat([Buffer.from([0]), int32(987654), Buffer.from('00', 'hex')])
    await assert.rejects(fresh.decode(bytes), (e) => e.status === 404)
  },
}

function int32(n) {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}

async function main() {
  let failed = 0
  for (const [name, check] of Object.entries(checks)) {
    try {
      await check()
      console.log(`ok ${name}`)
    } catch (e) {
      failed += 1
      console.log(`FAIL ${name}: ${e && e.message}`)
      console.error(e)
    }
  }
  const total = Object.keys(checks).length
  console.log(`kafkajs conformance: ${total - failed} passed, ${failed} failed`)
  process.exit(failed ? 1 : 0)
}

main()
