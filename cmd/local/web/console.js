// The local console: upload a card photo, see the normalized answer, the
// upstream calls it caused and the state of the tickets. Plain JS, no
// framework; everything it calls is this local stack on 127.0.0.1.
'use strict'
const $ = (id) => document.getElementById(id)
let cfg = {}

const fields = {
  name: 'Name', sex: 'Sex', nation: 'Nation', birthDate: 'Birth date', idNumber: 'ID number',
  address: 'Address', nativePlace: 'Native place', authority: 'Authority', validFrom: 'Valid from',
  validTo: 'Valid to', number: 'Card number', validThru: 'Valid thru',
}
const checkNames = {
  idNumberValid: 'ID number check digit', birthDateMatches: 'birth date matches the number',
  sexMatches: 'sex matches the number', expired: 'not expired', luhnValid: 'card number (Luhn)',
}

function li(text, cls) {
  const e = document.createElement('li')
  e.textContent = text
  if (cls) e.className = cls
  return e
}

async function state() {
  const s = await (await fetch('/_local/state')).json()
  const t = s.tickets
  $('tickets').textContent = t.state + (t.ageSeconds >= 0 ? ', fetched ' + t.ageSeconds + ' s ago' : '')
  $('tickets').className = t.state === 'fresh' ? 'ok' : 'bad'
  $('archived').replaceChildren(...(s.archived || []).map(a => li(a.kind + ' ' + a.orderNo + ' · ' + a.archivedAt)))
  if (!s.archived || !s.archived.length) $('archived').replaceChildren(li('none yet'))
  const billable = Object.entries(s.billableToday || {}).sort()
  $('billable').replaceChildren(...billable.map(([t, n]) => li((t === '' ? 'all tenants' : t) + ': ' + n)))
  if (!billable.length) $('billable').replaceChildren(li('none yet'))
  const cbs = s.callbacks || []
  $('callbacks').replaceChildren(...cbs.map(c => li(c.kind + ' ' + c.orderNo + ' · ' + c.status + (c.verified ? ' · signature verified' : ' · SIGNATURE DOES NOT VERIFY'), c.verified ? 'ok' : 'bad')))
  if (!cbs.length) $('callbacks').replaceChildren(li('none yet'))
  const suspended = Object.entries(s.suspended || {}).sort()
  $('suspended').replaceChildren(...suspended.map(([p, why]) => li(p + ': ' + why, 'bad')))
  if (!suspended.length) $('suspended').replaceChildren(li('none', 'ok'))
  return s.upstreamCalls || {}
}

// kindsOfProviders disables the providers that do not read the chosen kind
// (WeChat reads ID cards only).
function kindsOfProviders() {
  const kind = $('kind').value
  for (const o of $('provider').options) {
    o.disabled = o.dataset.kinds !== undefined && !o.dataset.kinds.split(' ').includes(kind)
    if (o.disabled && o.selected) $('provider').value = 'webank'
  }
}

function diff(before, after) {
  const out = []
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] || 0)
    if (d > 0 && !k.startsWith('fault:')) out.push(k + ' × ' + d)
  }
  return out.sort()
}

function render(status, body) {
  $('answer').hidden = false
  $('status').textContent = status
  $('status').className = status === 200 ? 'ok' : 'bad'
  $('json').textContent = JSON.stringify(body, null, 2)
  $('card').replaceChildren(); $('checks').replaceChildren(); $('warnings').replaceChildren(); $('error').textContent = ''
  if (body.error) {
    $('error').textContent = body.error.code + ': ' + body.error.message + (body.error.upstreamCode ? ' (upstream ' + body.error.upstreamCode + ')' : '')
    return
  }
  for (const [k, label] of Object.entries(fields)) {
    if (body.card && body.card[k]) {
      const tr = document.createElement('tr')
      tr.innerHTML = '<td></td><td></td>'
      tr.children[0].textContent = label
      tr.children[1].textContent = body.card[k]
      tr.children[1].dataset.field = k
      $('card').append(tr)
    }
  }
  for (const [k, v] of Object.entries(body.checks || {})) {
    const good = k === 'expired' ? !v : v
    $('checks').append(li(checkNames[k] || k, good ? 'ok' : 'bad'))
  }
  for (const w of body.warnings || []) $('warnings').append(li(w.code + ': ' + w.message, 'warn'))
}

// upload runs the presigned flow: the form, the photo posted to the bucket
// as a browser (or wx.uploadFile) posts it, then the result polled.
async function upload(kind, file) {
  const step = (text, cls) => $('steps').append(li(text, cls))
  const req = { contentType: file.type || 'image/jpeg', size: file.size }
  if (kind === 'idcard') req.side = $('side').value
  const auth = { Authorization: 'Bearer ' + cfg.apiKey }
  const t = await fetch('/v1/' + kind + '/uploads', { method: 'POST', body: JSON.stringify(req), headers: { ...auth, 'Content-Type': 'application/json' } })
  const ticket = await t.json()
  if (t.status !== 201) return [t.status, ticket]
  step('form issued: order ' + ticket.orderNo + ', expires ' + ticket.expiresAt)
  const form = new FormData()
  for (const [k, v] of Object.entries(ticket.upload.fields)) form.append(k, v)
  form.append(ticket.upload.fileField, file)
  const put = await fetch(ticket.upload.url, { method: 'POST', body: form })
  if (put.status >= 300) {
    const xml = await put.text()
    const code = (xml.match(/<Code>([^<]*)<\/Code>/) || [])[1] || put.status
    step('the bucket refused the form: ' + code, 'bad')
    return [put.status, { error: { code: String(code), message: 'the bucket refused the form' } }]
  }
  step('photo stored in the bucket (' + put.status + ')')
  for (let i = 0; i < 150; i++) {
    const r = await fetch('/v1/' + kind + '/results/' + ticket.orderNo, { headers: auth })
    const body = await r.json()
    if (r.status !== 202) {
      step('result: ' + r.status, r.status === 200 ? 'ok' : 'bad')
      return [r.status, body]
    }
    if (i === 0) step('pending…')
    await new Promise(ok => setTimeout(ok, 200))
  }
  return [0, { error: { code: 'timeout', message: 'no result within 30 s' } }]
}

async function recognize() {
  const file = $('file').files[0]
  if (!file) return
  $('go').disabled = true
  $('steps').replaceChildren()
  const form = new FormData()
  form.append('image', file)
  const kind = $('kind').value
  form.append('provider', $('provider').value)
  if (kind === 'idcard') form.append('side', $('side').value)
  try {
    const before = await state()
    if ($('mode').value === 'upload') {
      const [status, body] = await upload(kind, file)
      render(status, body)
    } else {
      const r = await fetch('/v1/' + kind + '/ocr', { method: 'POST', body: form, headers: { Authorization: 'Bearer ' + cfg.apiKey } })
      render(r.status, await r.json())
    }
    const calls = diff(before, await state())
    $('calls').replaceChildren(...(calls.length ? calls.map(c => li(c)) : [li('none (answered before any upstream call)')]))
  } finally {
    $('go').disabled = false
  }
}

function init() {
  const drop = $('drop')
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over') })
  drop.addEventListener('dragleave', () => drop.classList.remove('over'))
  drop.addEventListener('drop', (e) => {
    e.preventDefault(); drop.classList.remove('over')
    $('file').files = e.dataTransfer.files; $('go').disabled = !$('file').files.length
  })
  $('file').addEventListener('change', () => { $('go').disabled = !$('file').files.length })
  $('kind').addEventListener('change', () => {
    $('side').disabled = $('kind').value !== 'idcard'
    kindsOfProviders()
  })
  $('mode').addEventListener('change', () => {
    // Uploads are archived from WeBank's stored results: no provider choice.
    $('provider').disabled = $('mode').value === 'upload'
  })
  $('go').addEventListener('click', recognize)
  fetch('/_local/console.json').then(r => r.json()).then(c => {
    cfg = c
    $('version').textContent = c.version
    // The providers the stack runs (its registry), with the kinds each reads.
    $('provider').replaceChildren(...(c.providers || []).map(p => {
      const o = document.createElement('option')
      o.value = o.textContent = p.name
      o.dataset.kinds = p.kinds.join(' ')
      return o
    }))
    $('provider').value = 'webank'
    kindsOfProviders()
    if (!c.apiKey) cfg.apiKey = window.prompt('API_KEYS is set: the console needs one of those keys') || ''
  })
  state()
}
init()
