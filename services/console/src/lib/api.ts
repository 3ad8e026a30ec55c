// Every call to the services goes through /api/<service>/ on the console's
// own origin (nginx proxies it). Errors are RFC 9457 problem+json: ApiError
// keeps the problem and maps each `pointer` (and errors[].pointer) to a
// Chinese message, keyed by the pointer without its leading slash.
import { state, setSession, clearSession, type TokenAnswer } from './session'

export type Service = 'registry' | 'enrollment' | 'income' | 'suggestion' | 'notifier' | 'accounts'

export interface Problem {
  type?: string
  title?: string
  status?: number
  detail?: string
  pointer?: string
  errors?: { pointer?: string; detail?: string }[]
  [k: string]: unknown
}

const TYPE_MESSAGES: Record<string, string> = {
  'invalid-id-number': '身份证号校验未通过（GB 11643）',
  'duplicate-household': '该身份证号已登记',
  duplicate: '已存在相同记录',
  'unknown-project': '项目不存在',
  'project-closed': '项目已关闭',
  'project-not-started': '项目尚未开始',
  'project-not-yet-known': '项目刚登记，请稍后重试',
  'not-yet-known': '数据刚登记，请稍后重试',
  'not-enrolled': '该农户在此日期未以对应方式参与该项目',
  'already-enrolled': '该农户已有同类未结束的参与记录',
  'already-ended': '该参与记录已结束',
  'already-reversed': '该收入已冲正',
  'unknown-region': '区划代码不存在',
  'not-a-village': '请选择村级区划',
  'illegal-transition': '当前状态不允许此操作',
  forbidden: '无权执行此操作',
  unauthenticated: '登录已失效，请重新登录',
  'not-found': '记录不存在',
  conflict: '数据已被他人修改，请刷新后重试',
  'rate-limited': '操作过于频繁，请稍后再试',
  internal: '服务器内部错误，请稍后再试',
  unavailable: '服务暂不可用，请稍后再试',
}

export function problemMessage(p: Problem, detail?: string): string {
  const slug = (p.type ?? '').split('/').pop() ?? ''
  const base = TYPE_MESSAGES[slug]
  const d = detail ?? p.detail
  if (base && slug !== 'validation') return base
  if (p.status === 401) return '验证失败：' + (d ?? '请重新登录')
  if (p.status === 429) return '操作过于频繁，请稍后再试'
  if (p.status === 403) return '无权执行此操作'
  if (p.status === 404 && !p.type) return '未找到（404）'
  if (p.status && p.status >= 500) return `服务暂不可用，请稍后再试（${p.status}）`
  if (slug === 'validation' || p.status === 422) return d ? '输入有误：' + d : '输入有误'
  return d ? '请求失败：' + d : `请求失败（${p.status ?? '网络'}）`
}

export class ApiError extends Error {
  status: number
  problem: Problem
  fields: Record<string, string>
  retryAfter: number | null
  constructor(status: number, problem: Problem, retryAfter: number | null) {
    super(problemMessage(problem))
    this.status = status
    this.problem = problem
    this.retryAfter = retryAfter
    this.fields = {}
    const add = (ptr: string | undefined, detail: string | undefined) => {
      if (!ptr) return
      const key = ptr.replace(/^\//, '')
      if (!this.fields[key]) this.fields[key] = problemMessage(problem, detail)
    }
    add(problem.pointer, problem.detail)
    for (const e of problem.errors ?? []) add(e.pointer, e.detail)
  }
}

/** The message for a form: the fields the form shows get their own; the rest goes on top. */
export function splitErrors(err: unknown, shown: string[]): { fields: Record<string, string>; form: string } {
  if (!(err instanceof ApiError)) return { fields: {}, form: '网络错误：' + String((err as Error)?.message ?? err) }
  const fields: Record<string, string> = {}
  const rest: string[] = []
  for (const [k, v] of Object.entries(err.fields)) {
    const hit = shown.find((s) => k === s || k.startsWith(s + '/'))
    if (hit) fields[hit] = fields[hit] ?? v
    else rest.push(v)
  }
  const form = Object.keys(fields).length && !rest.length ? '' : rest[0] ?? err.message
  return { fields, form }
}

export type Query = Record<string, string | number | boolean | null | undefined>

export function qs(q?: Query): string {
  if (!q) return ''
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v))
  const s = p.toString()
  return s ? '?' + s : ''
}

export function url(service: Service, path: string, q?: Query): string {
  return `/api/${service}${path}${qs(q)}`
}

/** Calls made since the last reset: the benchmark and tests count them. */
export const counter = { calls: 0 }

let refreshing: Promise<boolean> | null = null

/** Trade the refresh token for a new pair, once at a time (a refresh token is never used twice). */
export function refresh(grantId?: string): Promise<boolean> {
  if (refreshing) return refreshing
  const s = state.session
  if (!s?.refresh_token) return Promise.resolve(false)
  const body: Record<string, string> = { refresh_token: s.refresh_token }
  if (grantId) body.grant_id = grantId
  refreshing = (async () => {
    try {
      const r = await fetch(url('accounts', '/v1/token'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
      })
      counter.calls++
      if (!r.ok) {
        if (r.status === 401) clearSession()
        return false
      }
      setSession((await r.json()) as TokenAnswer)
      return true
    } catch {
      return false
    } finally {
      refreshing = null
    }
  })()
  return refreshing
}

export interface CallOptions {
  method?: string
  body?: unknown
  query?: Query
  idempotent?: boolean // send an Idempotency-Key
  key?: string
  auth?: boolean
  headers?: Record<string, string>
}

async function send(service: Service, path: string, o: CallOptions): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json, application/problem+json', ...(o.headers ?? {}) }
  if (o.body !== undefined && !(o.body instanceof Blob)) headers['Content-Type'] = 'application/json'
  if (o.auth !== false && state.session) headers.Authorization = 'Bearer ' + state.session.access_token
  if (o.idempotent) headers['Idempotency-Key'] = o.key ?? crypto.randomUUID()
  counter.calls++
  return fetch(url(service, path, o.query), {
    method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
    headers,
    body: o.body === undefined ? undefined : o.body instanceof Blob ? o.body : JSON.stringify(o.body),
  })
}

async function failure(r: Response): Promise<ApiError> {
  let p: Problem = { status: r.status, title: r.statusText }
  try {
    const text = await r.text()
    if (text) p = { status: r.status, ...(JSON.parse(text) as Problem) }
  } catch {
    /* not JSON */
  }
  const ra = r.headers.get('Retry-After')
  return new ApiError(r.status, p, ra && /^\d+$/.test(ra) ? Number(ra) : null)
}

/** A JSON call; null for 204. */
export async function call<T = unknown>(service: Service, path: string, o: CallOptions = {}): Promise<T> {
  const s = state.session
  if (o.auth !== false && s?.refresh_token && s.expires_at && s.expires_at - Date.now() < 20_000) await refresh()
  if (o.idempotent && !o.key) o = { ...o, key: crypto.randomUUID() } // the same key if retried below
  let r = await send(service, path, o)
  if (r.status === 401 && o.auth !== false && state.session?.refresh_token && (await refresh())) {
    r = await send(service, path, o)
  }
  if (!r.ok) throw await failure(r)
  if (r.status === 204) return null as T
  const text = await r.text()
  return (text ? JSON.parse(text) : null) as T
}

/** Fetch a file (an export) with progress, then hand it to the browser as a download. */
export async function download(
  service: Service,
  path: string,
  q: Query,
  filename: string,
  progress?: (received: number, total: number | null) => void,
): Promise<number> {
  const r = await send(service, path, { query: q })
  if (!r.ok) throw await failure(r)
  const total = Number(r.headers.get('Content-Length')) || null
  const chunks: Uint8Array[] = []
  let received = 0
  const reader = r.body?.getReader()
  if (reader) {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      received += value.length
      progress?.(received, total)
    }
  }
  const blob = new Blob(chunks as BlobPart[], { type: r.headers.get('Content-Type') ?? 'application/octet-stream' })
  saveBlob(blob, filename)
  return received
}

export function saveBlob(blob: Blob, filename: string): void {
  const a = document.createElement('a')
  a.href = URL.createObjectURL(blob)
  a.download = filename
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000)
}

/** Upload a body with progress (XMLHttpRequest: fetch has no upload progress). */
export function upload<T>(
  service: Service,
  path: string,
  body: Blob,
  contentType: string,
  progress: (sent: number, total: number) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest()
    x.open('POST', url(service, path))
    x.setRequestHeader('Content-Type', contentType)
    x.setRequestHeader('Accept', 'application/json, application/problem+json')
    if (state.session) x.setRequestHeader('Authorization', 'Bearer ' + state.session.access_token)
    x.upload.onprogress = (e) => progress(e.loaded, e.lengthComputable ? e.total : body.size)
    x.onload = () => {
      let parsed: unknown = null
      try {
        parsed = x.responseText ? JSON.parse(x.responseText) : null
      } catch {
        parsed = null
      }
      if (x.status >= 200 && x.status < 300) resolve(parsed as T)
      else reject(new ApiError(x.status, { status: x.status, ...((parsed as Problem) ?? {}) }, null))
    }
    x.onerror = () => reject(new Error('网络错误'))
    counter.calls++
    x.send(body)
  })
}

export async function signOut(): Promise<void> {
  const s = state.session
  if (s?.refresh_token) {
    try {
      await call('accounts', '/v1/signout', { body: { refresh_token: s.refresh_token }, auth: false })
    } catch {
      /* signed out locally whatever the answer */
    }
  }
  clearSession()
}
