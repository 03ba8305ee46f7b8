// Owns the Node driver of the interop tests: the real MyMonero npm clients
// (@mymonero/mymonero-lws-client for HTTP, @mymonero/mymonero-monero-client
// for keys and transactions) pointed at an lws URL. tests/interop/
// test_mymonero.py runs it as a subprocess: one JSON request on stdin, one
// JSON reply on stdout. Must not hold test logic (assertions live in pytest),
// and does what a MyMonero wallet app does with these packages, no more.
//
// Requests (all carry url, address, view_key, spend_key; nettype defaults to
// MAINNET, which is what the core calls regtest addresses):
//   {"cmd": "wallet", "import": bool}
//       login (create_account), optionally /import_wallet_request as the app
//       does for a restored wallet, then get_address_info, get_address_txs
//       and get_unspent_outs, parsed the way the MyMonero apps parse them
//       (spent_outputs and spend_key_images filtered by the key images the
//       client computes with the spend key).
//   {"cmd": "send", "destinations": [{"address", "amount"}], "sweep": bool,
//    "priority": 1..4}
//       get_unspent_outs -> createTransaction (get_random_outs through the
//       callback) -> submit_raw_tx. Amounts are atomic-unit strings.
// Optional "accept_encoding": sent as Accept-Encoding with every request, as
// a browser adds it (Node's axios 0.21 sends none); the reply then lists
// each path's Content-Encoding as the server sent it ("encodings").
// Reply: {"ok": true, ...} or {"ok": false, "error", "stage", "trace"} where
// trace lists every HTTP exchange (view keys redacted).
import { createRequire } from 'node:module'

// The wasm core prints through console.log: keep stdout for our one reply.
const reply = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
console.log = (...args) => console.error(...args)

const require = createRequire(import.meta.url)
const LWSClient = require('@mymonero/mymonero-lws-client')
// lws-client posts through the axios module it requires itself: hook that one.
const axios = createRequire(require.resolve('@mymonero/mymonero-lws-client'))('axios')
const loadCore = require('@mymonero/mymonero-monero-client')

const trace = []
const redact = (data) => {
  if (typeof data !== 'string') return data
  try {
    const body = JSON.parse(data)
    if (body.view_key) body.view_key = '<redacted>'
    if (typeof body.tx === 'string' && body.tx.length > 200) body.tx = body.tx.slice(0, 64) + '...'
    return body
  } catch {
    return data
  }
}
const clip = (value) => {
  const text = JSON.stringify(value)
  return text !== undefined && text.length > 4000 ? text.slice(0, 4000) + '...' : value
}
axios.interceptors.request.use((config) => {
  trace.push({ method: config.method, url: config.url, request: redact(config.data) })
  return config
})
// axios drops Content-Encoding once it has decompressed: read the raw headers.
const contentEncoding = (response) => {
  const raw = (response.request && response.request.res && response.request.res.rawHeaders) || []
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i].toLowerCase() === 'content-encoding') return raw[i + 1]
  }
  return 'identity'
}
axios.interceptors.response.use(
  (response) => {
    trace[trace.length - 1].encoding = contentEncoding(response)
    trace[trace.length - 1].status = response.status
    trace[trace.length - 1].response = clip(response.data)
    return response
  },
  (error) => {
    if (error.response && trace.length) {
      trace[trace.length - 1].status = error.response.status
      trace[trace.length - 1].response = clip(error.response.data)
    }
    return Promise.reject(error)
  }
)

const ATOMIC_DIGITS = 12n

/** Atomic units -> the decimal XMR string the core's parse_amount reads. */
function toXmr (atomic) {
  const value = BigInt(atomic)
  const unit = 10n ** ATOMIC_DIGITS
  const whole = value / unit
  const frac = (value % unit).toString().padStart(Number(ATOMIC_DIGITS), '0').replace(/0+$/, '')
  return frac ? `${whole}.${frac}` : `${whole}`
}

function keyImageFn (core, req, spendPublic) {
  const cache = new Map()
  return (txPubKey, outIndex) => {
    const key = `${txPubKey}:${outIndex}`
    if (!cache.has(key)) {
      cache.set(key, core.generateKeyImage(txPubKey, req.view_key, spendPublic, req.spend_key, outIndex))
    }
    return cache.get(key)
  }
}

/** get_address_info as the MyMonero apps read it (Parsed_AddressInfo__sync). */
function parseAddressInfo (info, keyImage) {
  const totalReceived = BigInt(info.total_received || 0)
  const locked = BigInt(info.locked_funds || 0)
  let totalSent = BigInt(info.total_sent || 0)
  let ignored = 0
  for (const spent of info.spent_outputs || []) {
    if (spent.key_image !== keyImage(spent.tx_pub_key, spent.out_index)) {
      totalSent -= BigInt(spent.amount)
      ignored += 1
    }
  }
  const balance = totalReceived - totalSent
  return {
    total_received: totalReceived.toString(),
    total_sent: totalSent.toString(),
    locked: locked.toString(),
    balance: balance.toString(),
    unlocked: (balance - locked).toString(),
    spent_outputs_ignored: ignored
  }
}

/** get_address_txs as the MyMonero apps read it (Parsed_AddressTransactions__sync). */
function parseAddressTxs (data, keyImage) {
  const kept = []
  for (const raw of data.transactions || []) {
    const received = BigInt(raw.total_received || 0)
    let sent = BigInt(raw.total_sent || 0)
    const spentOutputs = []
    for (const spent of raw.spent_outputs || []) {
      if (spent.key_image !== keyImage(spent.tx_pub_key, spent.out_index)) {
        sent -= BigInt(spent.amount)
      } else {
        spentOutputs.push(spent)
      }
    }
    if (received + sent <= 0n) continue
    kept.push({
      id: raw.id,
      hash: raw.hash,
      height: raw.height,
      mempool: Boolean(raw.mempool),
      coinbase: Boolean(raw.coinbase),
      timestamp: raw.timestamp,
      fee: raw.fee,
      payment_id: raw.payment_id,
      total_received: received.toString(),
      total_sent: sent.toString(),
      amount: (received - sent).toString(),
      spent_outputs: spentOutputs.length
    })
  }
  kept.sort((a, b) => (a.mempool === b.mempool ? b.id - a.id : a.mempool ? -1 : 1))
  const balance = kept.reduce((sum, tx) => sum + BigInt(tx.amount), 0n)
  return { transactions: kept, history_balance: balance.toString() }
}

/** get_unspent_outs as the apps filter it (Parsed_UnspentOuts__sync). */
function spendableOuts (data, keyImage) {
  const outs = []
  for (const out of data.outputs || []) {
    const image = keyImage(out.tx_pub_key, out.index)
    if ((out.spend_key_images || []).includes(image)) continue
    outs.push({
      amount: out.amount,
      public_key: out.public_key,
      tx_hash: out.tx_hash,
      index: out.index,
      global_index: out.global_index,
      height: out.height,
      coinbase: out.rct === 'coinbase',
      key_image: image
    })
  }
  return outs
}

async function walletCmd (req, core, lws, spendPublic) {
  const keyImage = keyImageFn(core, req, spendPublic)
  const login = await lws.login(req.view_key, req.address, true)
  let imported = null
  if (req.import) {
    // What the MyMonero app posts for a restored wallet (lws-client has no method).
    const res = await axios.post('/import_wallet_request', {
      address: req.address,
      view_key: req.view_key,
      app_name: lws.appName,
      app_version: lws.appVersion
    })
    imported = res.data
  }
  const info = await lws.getAddressInfo(req.view_key, req.address)
  const txs = await lws.getAddressTxs(req.view_key, req.address)
  const unspent = await lws.unspentOutputs(req.view_key, req.address)
  const spendable = spendableOuts(unspent, keyImage)
  return {
    login,
    imported,
    heights: {
      scanned_block_height: info.scanned_block_height,
      blockchain_height: info.blockchain_height,
      start_height: info.start_height
    },
    ...parseAddressInfo(info, keyImage),
    ...parseAddressTxs(txs, keyImage),
    spendable,
    spendable_total: spendable.reduce((sum, out) => sum + BigInt(out.amount), 0n).toString()
  }
}

async function sendCmd (req, core, lws, spendPublic, state) {
  state.stage = 'get_unspent_outs'
  const unspentOuts = await lws.unspentOutputs(req.view_key, req.address)
  const randomRequests = []
  state.stage = 'createTransaction'
  const destinations = req.sweep
    ? [{ to_address: req.destinations[0].address, send_amount: 0 }]
    : req.destinations.map((d) => ({ to_address: d.address, send_amount: toXmr(d.amount) }))
  const tx = await core.createTransaction({
    destinations,
    shouldSweep: Boolean(req.sweep),
    address: req.address,
    privateViewKey: req.view_key,
    publicSpendKey: spendPublic,
    privateSpendKey: req.spend_key,
    priority: req.priority || 1,
    nettype: req.nettype || 'MAINNET',
    paymentId: req.payment_id,
    unspentOuts,
    randomOutsCb: (count) => {
      randomRequests.push(count)
      state.stage = 'get_random_outs'
      return lws.randomOutputs(count)
    }
  })
  if (!tx.serialized_signed_tx) {
    // The core returns an empty err_msg when it wants another fee round.
    throw new Error(`createTransaction returned no transaction: ${JSON.stringify(tx)}`)
  }
  state.stage = 'submit_raw_tx'
  const submitted = await lws.submitRawTx(tx.serialized_signed_tx)
  return {
    tx_hash: tx.tx_hash,
    tx_key: tx.tx_key,
    used_fee: tx.used_fee,
    total_sent: tx.total_sent,
    final_total_wo_fee: tx.final_total_wo_fee,
    mixin: tx.mixin,
    tx_size: tx.serialized_signed_tx.length / 2,
    random_outs_requested: randomRequests,
    submitted
  }
}

async function main () {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  const req = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  const state = { stage: 'init' }
  try {
    const core = await loadCore()
    if (req.accept_encoding) axios.defaults.headers.common['Accept-Encoding'] = req.accept_encoding
    const lws = new LWSClient({ url: req.url })
    const nettype = req.nettype || 'MAINNET'
    const decoded = core.decodeAddress(req.address, nettype)
    const checked = core.isValidKeys(req.address, req.view_key, req.spend_key, '', nettype)
    if (!checked.isValid) throw new Error('the core says these keys do not match the address')
    let result
    if (req.cmd === 'wallet') {
      state.stage = 'wallet'
      result = await walletCmd(req, core, lws, decoded.publicSpendKey)
    } else if (req.cmd === 'send') {
      result = await sendCmd(req, core, lws, decoded.publicSpendKey, state)
    } else {
      throw new Error(`unknown cmd ${req.cmd}`)
    }
    const encodings = {}
    for (const t of trace) encodings[t.url] = t.encoding
    reply({ ok: true, ...result, encodings, trace: req.trace ? trace : undefined })
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err)
    reply({ ok: false, error, stage: state.stage, trace })
  }
}

await main()
